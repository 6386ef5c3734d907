#include "exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>

#include <cctype>
#include <string>
#include <string_view>

#include "respond.hpp"
#include "steps.hpp"

namespace upload_server {
namespace {

constexpr auto with_error = net::as_tuple(net::use_awaitable);

/// Names the store accepts: no paths, no hidden files, nothing a shell takes for an option.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.' || name.front() == '-')
    return false;
  for (const char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host, an HTTP/1.0 one at most one.
bool host_ok(const http::request<http::buffer_body>& request) {
  const std::size_t hosts = request.count(http::field::host);
  return request.version() >= 11 ? hosts == 1 : hosts <= 1;
}

/// Whether every Transfer-Encoding field together names `chunked` alone, the one coding
/// this server decodes (RFC 9112 §6.1: 501 for any other).
bool codings_understood(const http::request<http::buffer_body>& request) {
  int codings = 0;
  bool chunked = false;
  const auto [first, last] = request.equal_range(http::field::transfer_encoding);
  for (auto field = first; field != last; ++field) {
    std::string_view list = field->value();
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      std::string_view coding = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t'))
        coding.remove_prefix(1);
      while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t'))
        coding.remove_suffix(1);
      if (coding.empty()) continue;
      ++codings;
      chunked = boost::beast::iequals(coding, "chunked");
    }
  }
  return codings == 0 || (codings == 1 && chunked);
}

/// Waits for the request's first bytes: a new connection's within --header-timeout, the
/// next one on a kept-alive connection within --idle-timeout. False if the client closed.
net::awaitable<bool> await_request(session& s, bool first) {
  if (s.buffer.size() != 0) co_return true;  // pipelined
  s.stream.expires_after(first ? s.settings.header_timeout : s.settings.idle_timeout);
  auto [error, n] = co_await s.stream.async_read_some(
      s.buffer.prepare(boost::beast::read_size(s.buffer, chunk_size)), with_error);
  if (error == boost::beast::error::timeout || error == net::error::operation_aborted)
    throw boost::system::system_error(error);
  s.buffer.commit(n);
  co_return !error;
}

/// A refusal: the connection ends with it (whatever body came is not read).
net::awaitable<bool> refuse(session& s, http::status status, unsigned version, std::string why,
                            extra_field field = {}) {
  co_await send(s, status, version, false, std::move(why), field);
  co_return false;
}

}  // namespace

bool is_parse_error(const boost::system::error_code& error) {
  if (error.category() != make_error_code(http::error::bad_method).category()) return false;
  switch (static_cast<http::error>(error.value())) {
    case http::error::end_of_stream:    // closed between requests
    case http::error::partial_message:  // closed mid-request
    case http::error::need_more:
    case http::error::need_buffer:
    case http::error::end_of_chunk:
    case http::error::stale_parser:
    case http::error::short_read:
      return false;
    default:
      return true;
  }
}

net::awaitable<bool> answer_one(session& s, bool first) {
  if (!co_await await_request(s, first)) co_return false;
  request_parser parser;
  parser.body_limit(s.settings.max_body);
  s.stream.expires_after(s.settings.header_timeout);
  auto [error, ignored] = co_await http::async_read_header(s.stream, s.buffer, parser, with_error);
  if (error == http::error::body_limit)
    co_return co_await refuse(s, http::status::payload_too_large, 11, "body too large\n");
  if (error == boost::beast::error::timeout || error == net::error::operation_aborted)
    throw boost::system::system_error(error);
  // Bytes that end before a request does are answered too: a client that sent more body
  // than it announced learns that the rest was not taken as a request.
  if (is_parse_error(error) || error == http::error::partial_message)
    co_return co_await refuse(s, http::status::bad_request, 11, "bad request\n");
  if (error) co_return false;  // closed or reset by the client

  const auto& request = parser.get();
  const unsigned version = request.version();
  if (!host_ok(request))
    co_return co_await refuse(s, http::status::bad_request, version, "one Host field needed\n");
  if (!codings_understood(request))
    co_return co_await refuse(s, http::status::not_implemented, version,
                              "only the chunked transfer coding is understood\n");

  const std::string_view target = request.target();
  const http::verb method = request.method();
  const bool has_body = request.chunked() || request.has_content_length();
  const bool keep_alive = request.keep_alive();
  if (target == "/health" || target == "/metrics") {  // not storable names
    if (method != http::verb::get)
      co_return co_await refuse(s, http::status::method_not_allowed, version, "GET only\n",
                                {http::field::allow, "GET"});
    if (has_body) co_return co_await refuse(s, http::status::bad_request, version, "no body\n");
    // Chosen before the co_await: g++ 12 destroys a conditional's temporary twice there.
    std::string body = target == "/health" ? "ok\n" : s.counters.render();
    co_await send(s, http::status::ok, version, keep_alive, std::move(body),
                  {http::field::content_type, "text/plain; version=0.0.4"});
    co_return keep_alive;
  }
  if (target == "/") {
    if (method == http::verb::post) co_return co_await store_upload(s, parser, "");
    co_return co_await refuse(s, http::status::method_not_allowed, version, "POST only\n",
                              {http::field::allow, "POST"});
  }
  const std::string_view name = target.substr(target.empty() ? 0 : 1);
  if (!target.starts_with('/') || !valid_name(name))
    co_return co_await refuse(s, http::status::bad_request, version, "bad request\n");
  if (method == http::verb::put) co_return co_await store_upload(s, parser, std::string(name));
  if (method != http::verb::get)
    co_return co_await refuse(s, http::status::method_not_allowed, version, "GET or PUT\n",
                              {http::field::allow, "GET, PUT"});
  if (has_body) co_return co_await refuse(s, http::status::bad_request, version, "no body\n");
  co_return co_await send_file(s, version, keep_alive, std::string(name));
}

}  // namespace upload_server
