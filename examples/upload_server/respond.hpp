#pragma once
// Responses, each written under --write-timeout and counted by status.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include <string>
#include <string_view>

#include "exchange.hpp"

namespace upload_server {

namespace http = boost::beast::http;

/// A header field a response adds to (or replaces in) its usual ones; none by default.
struct extra_field {
  http::field name = http::field::unknown;
  std::string_view value;
};

/// A text/plain response.
net::awaitable<void> send(session& s, http::status status, unsigned version, bool keep_alive,
                          std::string body, extra_field field = {});

/// "100 Continue": the client may send its body.
net::awaitable<void> send_continue(session& s, unsigned version);

}  // namespace upload_server
