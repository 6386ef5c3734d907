#pragma once
// The HTTP/1.1 upload server: accepts connections, serves each on a coroutine, and shuts
// down cleanly on SIGINT/SIGTERM (uploads in flight abandoned, nothing partial published).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdint>
#include <functional>
#include <list>

#include "config.hpp"
#include "storage.hpp"

namespace upload_server {

class server {
 public:
  /// Listens on `settings.port` (all addresses). `on_stopped` runs once every connection
  /// has ended after a stop signal.
  server(net::io_context& context, const config& settings, storage& files,
         std::function<void()> on_stopped);
  /// Starts accepting and waiting for SIGINT/SIGTERM.
  void start();
  /// The port it listens on (the chosen one when started with port 0).
  unsigned short port() const;

 private:
  /// A connection being served: stop() cancels its current step on the ring and its
  /// socket's operations, and shuts the socket down (a coroutine resumed by a completion
  /// that was already on its way would otherwise start a read that nothing ends).
  struct connection {
    net::cancellation_signal cancel;
    net::ip::tcp::socket* socket = nullptr;  // while its coroutine runs
  };
  using connection_list = std::list<connection>;

  net::awaitable<void> accept_connections();
  net::awaitable<void> serve(net::ip::tcp::socket socket, connection_list::iterator self);
  void stop();
  void connection_ended();

  net::io_context& context_;
  const config& settings_;
  storage& files_;
  std::function<void()> on_stopped_;
  net::ip::tcp::acceptor acceptor_;
  net::signal_set signals_;
  connection_list connections_;
  bool stopping_ = false;
};

}  // namespace upload_server
