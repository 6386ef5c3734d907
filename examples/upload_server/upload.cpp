#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include "body_hash.hpp"
#include "respond.hpp"
#include "steps.hpp"

namespace upload_server {
namespace {

std::string random_name() {
  thread_local std::mt19937_64 random(std::random_device{}());
  char name[17];
  std::snprintf(name, sizeof name, "%016" PRIx64, static_cast<std::uint64_t>(random()));
  return name;
}

struct receipt {
  std::uint64_t size = 0;
  std::uint64_t hash = 0;
};

/// When the next body bytes must have arrived: within --body-timeout of now, and at an
/// average of --min-body-rate after a grace of --body-timeout (a trickle is not progress).
std::chrono::steady_clock::time_point body_deadline(const config& settings,
                                                    std::chrono::steady_clock::time_point started,
                                                    std::uint64_t received) {
  const std::uint64_t rate = settings.min_body_rate;  // split so that no product overflows
  const auto at_min_rate =
      std::chrono::milliseconds(received / rate * 1000 + received % rate * 1000 / rate);
  return std::min(std::chrono::steady_clock::now() + settings.body_timeout,
                  started + settings.body_timeout + at_min_rate);
}

/// Streams the request body into `destination`, chunk by chunk.
net::awaitable<receipt> receive_body(session& s, request_parser& parser, upload& destination) {
  // Beast reads at most the buffer's free capacity (at least 512 bytes, at most 64 KiB) per
  // receive: left at its first size, a 4 MiB body took 8,000 receives.
  s.buffer.reserve(chunk_size);
  const std::unique_ptr<std::byte[]> chunk(new std::byte[chunk_size]);
  const auto started = std::chrono::steady_clock::now();
  body_hash hash;
  receipt got;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.get();
    parser.get().body().size = chunk_size;
    s.stream.expires_at(body_deadline(s.settings, started, got.size));
    auto [error, ignored] =
        co_await http::async_read(s.stream, s.buffer, parser, net::as_tuple(net::use_awaitable));
    if (error && error != http::error::need_buffer) throw boost::system::system_error(error);
    const std::span<const std::byte> bytes(chunk.get(), chunk_size - parser.get().body().size);
    if (bytes.empty()) continue;
    hash.update(bytes);
    got.size += bytes.size();
    co_await destination.append(bytes);
  }
  got.hash = hash.value();
  co_return got;
}

http::status status_of_store_error(int error) {
  switch (error) {
    case EEXIST: return http::status::conflict;
    case ENOSPC:
    case EDQUOT: return http::status::insufficient_storage;
    default: return http::status::internal_server_error;
  }
}

bool expects_continue(const http::request<http::buffer_body>& request) {
  // HTTP/1.0 has no 1xx responses (RFC 9110 §10.1.1).
  return request.version() >= 11 &&
         boost::beast::iequals(request[http::field::expect], "100-continue");
}

}  // namespace

net::awaitable<bool> store_upload(session& s, request_parser& parser, std::string name) {
  const auto& request = parser.get();
  const unsigned version = request.version();
  const bool server_names = name.empty();
  // Refusals come before "100 Continue" (the client has not sent its body) and close the
  // connection (one that sent it anyway would be read as the next request).
  if (!request.chunked() && !request.has_content_length()) {
    co_await send(s, http::status::length_required, version, false, "length required\n");
    co_return false;
  }
  if (!server_names && s.files.taken(name)) {
    co_await send(s, http::status::conflict, version, false, "name taken\n");
    co_return false;
  }
  if (expects_continue(request)) co_await send_continue(s, version);
  const bool keep_alive = request.keep_alive();
  const gauge_hold in_flight(s.counters.uploads_in_flight);

  auto destination = s.files.begin_upload();
  receipt got;
  int store_error = 0;
  try {
    got = co_await receive_body(s, parser, *destination);
  } catch (const boost::system::system_error& e) {
    if (e.code() == http::error::body_limit)
      store_error = EFBIG;
    else if (is_parse_error(e.code()))
      store_error = EBADMSG;  // bad chunked framing
    else
      throw;  // the client is gone, timed out or cancelled
  } catch (const std::system_error& e) {
    if (e.code().value() == ECANCELED) throw;
    store_error = e.code().value();
  }
  if (store_error == EFBIG) {
    co_await send(s, http::status::payload_too_large, version, false, "body too large\n");
    co_return false;
  }
  if (store_error == EBADMSG) {
    co_await send(s, http::status::bad_request, version, false, "bad body framing\n");
    co_return false;
  }
  if (store_error != 0) {  // the rest of the body was not read: the connection ends
    co_await send(s, status_of_store_error(store_error), version, false,
                  std::generic_category().message(store_error) + "\n");
    co_return false;
  }

  for (int attempt = 0;; ++attempt) {
    if (server_names) name = random_name();
    try {
      co_await destination->publish(name);
      break;
    } catch (const std::system_error& e) {
      if (e.code().value() == ECANCELED) throw;
      store_error = e.code().value();
    }
    if (!(store_error == EEXIST && server_names && attempt < 8)) {
      co_await send(s, status_of_store_error(store_error), version, keep_alive,
                    std::generic_category().message(store_error) + "\n");
      co_return keep_alive;
    }
  }
  s.counters.uploads_stored.fetch_add(1, std::memory_order_relaxed);
  s.counters.bytes_stored.fetch_add(got.size, std::memory_order_relaxed);
  char answer[96];
  std::snprintf(answer, sizeof answer, "size %" PRIu64 " hash %016" PRIx64 "\n", got.size,
                got.hash);
  const std::string location = "/" + name;
  co_await send(s, http::status::created, version, keep_alive, answer,
                {http::field::location, location});
  co_return keep_alive;
}

}  // namespace upload_server
