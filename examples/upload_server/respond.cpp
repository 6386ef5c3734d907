#include "respond.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace upload_server {

net::awaitable<void> send(session& s, http::status status, unsigned version, bool keep_alive,
                          std::string body, extra_field field) {
  http::response<http::string_body> response(status, version);
  response.set(http::field::content_type, "text/plain");
  if (field.name != http::field::unknown) response.set(field.name, field.value);
  response.keep_alive(keep_alive);
  response.body() = std::move(body);
  response.prepare_payload();
  s.counters.count_response(static_cast<unsigned>(status));
  s.stream.expires_after(s.settings.write_timeout);
  co_await http::async_write(s.stream, response, net::use_awaitable);
}

net::awaitable<void> send_continue(session& s, unsigned version) {
  http::response<http::empty_body> go_on(http::status::continue_, version);
  s.stream.expires_after(s.settings.write_timeout);
  co_await http::async_write(s.stream, go_on, net::use_awaitable);
}

}  // namespace upload_server
