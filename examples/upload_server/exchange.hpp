#pragma once
// One HTTP/1.1 request and its answer: PUT /name, POST /, GET /name, GET /health.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "config.hpp"
#include "storage.hpp"

namespace upload_server {

/// Reads one request from `socket` and answers it. Returns whether the connection may carry
/// another request. Throws when the connection is gone or the exchange was cancelled.
net::awaitable<bool> answer_one(net::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer,
                                const config& settings, storage& files);

}  // namespace upload_server
