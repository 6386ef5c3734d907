#pragma once
// One HTTP/1.1 request and its answer: PUT /name, POST /, GET /name, GET /health.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <cstddef>
#include <span>

#include "config.hpp"
#include "storage.hpp"

namespace upload_server {

/// Bytes a body moves in one step, socket to storage or back.
constexpr std::size_t chunk_size = 256 << 10;

/// Reads one request from `socket` and answers it; `chunk` (the connection's, `chunk_size`
/// bytes, reused: a fresh zeroed buffer per request cost more CPU than the upload's I/O)
/// carries its body. Returns whether the connection may carry another request. Throws when
/// the connection is gone or the exchange was cancelled.
net::awaitable<bool> answer_one(net::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer,
                                std::span<std::byte> chunk, const config& settings,
                                storage& files);

}  // namespace upload_server
