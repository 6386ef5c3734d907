#pragma once
// The steps of an exchange once its headers are read and checked.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <string>

#include "exchange.hpp"

namespace upload_server {

using request_parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

/// PUT /name (`name` given) or POST / (the server picks one): receives the body into the
/// storage and publishes it. Returns whether the connection may go on.
net::awaitable<bool> store_upload(session& s, request_parser& parser, std::string name);

/// GET /name: the stored regular file `name` (404 for anything else: a symlink, a FIFO, a
/// directory, nothing). Returns whether the connection may go on.
net::awaitable<bool> send_file(session& s, unsigned version, bool keep_alive, std::string name);

/// A request the parser rejects as malformed (not a connection ended or a limit reached).
bool is_parse_error(const boost::system::error_code& error);

}  // namespace upload_server
