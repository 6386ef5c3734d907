#pragma once
// One shard of the HTTP/1.1 upload server: accepts connections on its own listening socket
// (all shards share the port through SO_REUSEPORT), serves each on a coroutine, and shuts
// down cleanly on SIGINT/SIGTERM (uploads in flight abandoned, nothing partial published).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <functional>
#include <list>

#include "config.hpp"
#include "metrics.hpp"
#include "storage.hpp"

namespace tempfile {
class io_ring;
}

namespace upload_server {

/// A listening socket on `port` (all IPv4 addresses) that other shards may bind too.
net::ip::tcp::acceptor listen_shared(net::io_context& context, unsigned short port);

class server {
 public:
  /// Serves connections from `acceptor` (bound to `context`). `ring`, if any, is the
  /// storage's, whose counters go to `counters.rings[shard]`. `on_stopped` runs once every
  /// connection has ended after a stop signal.
  server(net::io_context& context, net::ip::tcp::acceptor acceptor, const config& settings,
         storage& files, metrics& counters, unsigned shard, const tempfile::io_ring* ring,
         std::function<void()> on_stopped);
  /// Starts accepting and waiting for SIGINT/SIGTERM.
  void start();

 private:
  /// A connection being served: stop() cancels its current step on the ring and its
  /// stream's operations, and shuts the socket down (a coroutine resumed by a completion
  /// that was already on its way would otherwise start a read that nothing ends).
  struct connection {
    net::cancellation_signal cancel;
    boost::beast::tcp_stream* stream = nullptr;  // while its coroutine runs
  };
  using connection_list = std::list<connection>;

  net::awaitable<void> accept_connections();
  /// Until a connection ends, while --max-connections are open.
  net::awaitable<void> wait_for_room();
  net::awaitable<void> serve(net::ip::tcp::socket socket, connection_list::iterator self);
  /// After the last answer: lets a client still sending a refused body read that answer.
  net::awaitable<void> linger(boost::beast::tcp_stream& stream);
  void stop();
  void connection_ended();

  net::io_context& context_;
  const config& settings_;
  storage& files_;
  metrics& counters_;
  ring_counters* ring_counters_;
  const tempfile::io_ring* ring_;
  std::function<void()> on_stopped_;
  net::ip::tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer pause_;  // accept backoff, and the wait for room below the limit
  connection_list connections_;
  bool stopping_ = false;
};

}  // namespace upload_server
