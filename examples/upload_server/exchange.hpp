#pragma once
// One HTTP/1.1 request and its answer: PUT /name, POST /, GET /name, GET /health,
// GET /metrics. The steps live in their own files: the request's checks and routing
// (exchange.cpp), an upload (upload.cpp), a download (download.cpp), a response (respond.cpp).

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <cstddef>

#include "config.hpp"
#include "metrics.hpp"
#include "storage.hpp"

namespace upload_server {

/// Bytes a body moves in one step, socket to storage or back: the most one receive brings.
constexpr std::size_t chunk_size = 64 << 10;

/// A connection and what its requests use. Each socket operation runs under the stream's
/// deadline (header, idle, body or write timeout): past it the stream closes the socket and
/// the operation fails with beast::error::timeout. Storage steps run without one.
struct session {
  boost::beast::tcp_stream& stream;
  boost::beast::flat_buffer& buffer;
  const config& settings;
  storage& files;
  metrics& counters;
};

/// Reads one request and answers it; `first` tells whether it is the connection's first
/// (later ones may idle for --idle-timeout before they start). Returns whether the
/// connection may carry another request. Throws when the connection is gone, timed out or
/// the exchange was cancelled.
net::awaitable<bool> answer_one(session& s, bool first);

}  // namespace upload_server
