#include "exchange.hpp"

#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include "body_hash.hpp"

namespace upload_server {
namespace {

namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using request_parser = http::request_parser<http::buffer_body>;

constexpr auto use_awaitable = net::use_awaitable;
constexpr auto with_error = net::as_tuple(net::use_awaitable);

/// Names the store accepts: no paths, no hidden files.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  for (const char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

std::string random_name() {
  thread_local std::mt19937_64 random(std::random_device{}());
  char name[17];
  std::snprintf(name, sizeof name, "%016" PRIx64, static_cast<std::uint64_t>(random()));
  return name;
}

net::awaitable<void> send(tcp::socket& socket, http::status status, unsigned version,
                          bool keep_alive, std::string body,
                          std::string location = std::string()) {
  http::response<http::string_body> response(status, version);
  response.set(http::field::content_type, "text/plain");
  if (!location.empty()) response.set(http::field::location, location);
  response.keep_alive(keep_alive);
  response.body() = std::move(body);
  response.prepare_payload();
  co_await http::async_write(socket, response, use_awaitable);
}

struct receipt {
  std::uint64_t size = 0;
  std::uint64_t hash = 0;
};

/// Streams the request body into `destination`, chunk by chunk.
net::awaitable<receipt> receive_body(tcp::socket& socket, boost::beast::flat_buffer& buffer,
                                     std::span<std::byte> chunk, request_parser& parser,
                                     upload& destination) {
  body_hash hash;
  receipt got;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    auto [error, ignored] = co_await http::async_read(socket, buffer, parser, with_error);
    if (error && error != http::error::need_buffer) throw boost::system::system_error(error);
    const std::span<const std::byte> bytes(chunk.data(), chunk.size() - parser.get().body().size);
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

/// PUT /name (`name` given) or POST / (the server picks one).
net::awaitable<bool> store_upload(tcp::socket& socket, boost::beast::flat_buffer& buffer,
                                  std::span<std::byte> chunk, request_parser& parser,
                                  storage& files, std::string name) {
  const auto& request = parser.get();
  const unsigned version = request.version();
  if (!request.chunked() && !request.has_content_length()) {
    co_await send(socket, http::status::length_required, version, false, "length required\n");
    co_return false;
  }
  if (request[http::field::expect] == "100-continue") {
    http::response<http::empty_body> go_on(http::status::continue_, version);
    co_await http::async_write(socket, go_on, use_awaitable);
  }
  const bool keep_alive = request.keep_alive();
  const bool server_names = name.empty();

  auto destination = files.begin_upload();
  receipt got;
  int store_error = 0;
  try {
    got = co_await receive_body(socket, buffer, chunk, parser, *destination);
  } catch (const boost::system::system_error& e) {
    if (e.code() != http::error::body_limit) throw;  // the client is gone or cancelled
    store_error = EFBIG;
  } catch (const std::system_error& e) {
    if (e.code().value() == ECANCELED) throw;
    store_error = e.code().value();
  }
  if (store_error == EFBIG) {
    co_await send(socket, http::status::payload_too_large, version, false, "body too large\n");
    co_return false;
  }
  if (store_error != 0) {  // the rest of the body was not read: the connection ends
    co_await send(socket, status_of_store_error(store_error), version, false,
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
      co_await send(socket, status_of_store_error(store_error), version, keep_alive,
                    std::generic_category().message(store_error) + "\n");
      co_return keep_alive;
    }
  }
  char answer[96];
  std::snprintf(answer, sizeof answer, "size %" PRIu64 " hash %016" PRIx64 "\n", got.size,
                got.hash);
  co_await send(socket, http::status::created, version, keep_alive, answer, "/" + name);
  co_return keep_alive;
}

/// GET /name: the stored file, read through `files` chunk by chunk.
net::awaitable<bool> send_file(tcp::socket& socket, std::span<std::byte> chunk,
                               unsigned version, bool keep_alive, storage& files,
                               std::string name) {
  tempfile::unique_fd file;
  int error = 0;
  try {
    file = co_await files.open(name);
  } catch (const std::system_error& e) {
    if (e.code().value() == ECANCELED) throw;
    error = e.code().value();
  }
  if (error != 0) {
    const auto status = error == ENOENT ? http::status::not_found : http::status::internal_server_error;
    co_await send(socket, status, version, keep_alive, std::generic_category().message(error) + "\n");
    co_return keep_alive;
  }
  struct stat about;
  if (::fstat(file.get(), &about) != 0) throw std::system_error(errno, std::generic_category(), "fstat");
  const auto size = static_cast<std::uint64_t>(about.st_size);

  http::response<http::empty_body> head(http::status::ok, version);
  head.set(http::field::content_type, "application/octet-stream");
  head.content_length(size);
  head.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> header(head);
  co_await http::async_write_header(socket, header, use_awaitable);
  for (std::uint64_t sent = 0; sent < size;) {
    const std::size_t n = co_await files.read(file.get(), chunk, sent);
    // A stored file never changes (publishing is atomic): shorter means it was removed
    // and truncated under us; the announced length cannot be honoured.
    if (n == 0) co_return false;
    co_await net::async_write(socket, net::buffer(chunk.data(), n), use_awaitable);
    sent += n;
  }
  co_return keep_alive;
}

bool is_parse_error(const boost::system::error_code& error) {
  return error.category() == make_error_code(http::error::bad_method).category();
}

}  // namespace

net::awaitable<bool> answer_one(tcp::socket& socket, boost::beast::flat_buffer& buffer,
                                std::span<std::byte> chunk, const config& settings,
                                storage& files) {
  request_parser parser;
  parser.body_limit(settings.max_body);
  auto [error, ignored] = co_await http::async_read_header(socket, buffer, parser, with_error);
  if (error == http::error::body_limit) {
    co_await send(socket, http::status::payload_too_large, 11, false, "body too large\n");
    co_return false;
  }
  if (error == net::error::operation_aborted) throw boost::system::system_error(error);
  if (error && is_parse_error(error) && error != http::error::end_of_stream) {
    co_await send(socket, http::status::bad_request, 11, false, "bad request\n");
    co_return false;
  }
  if (error) co_return false;  // closed or reset by the client

  const auto& request = parser.get();
  const std::string_view target = request.target();
  const std::string_view name = target.substr(target.empty() ? 0 : 1);
  const bool has_body = request.chunked() || request.has_content_length();
  if (request.method() == http::verb::get && target == "/health" && !has_body) {
    co_await send(socket, http::status::ok, request.version(), request.keep_alive(), "ok\n");
    co_return request.keep_alive();
  }
  if (request.method() == http::verb::post && target == "/")
    co_return co_await store_upload(socket, buffer, chunk, parser, files, "");
  if (target.starts_with('/') && valid_name(name)) {
    if (request.method() == http::verb::put)
      co_return co_await store_upload(socket, buffer, chunk, parser, files, std::string(name));
    if (request.method() == http::verb::get && !has_body)
      co_return co_await send_file(socket, chunk, request.version(), request.keep_alive(),
                                   files, std::string(name));
  }
  // Whatever body came with it is not read: the connection ends with the answer.
  co_await send(socket, http::status::bad_request, request.version(), false, "bad request\n");
  co_return false;
}

}  // namespace upload_server
