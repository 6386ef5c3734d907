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
#include <random>

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
  net::awaitable<void> accept_connections();
  net::awaitable<void> serve(net::ip::tcp::socket socket);
  void stop();
  void connection_ended();

  net::io_context& context_;
  const config& settings_;
  storage& files_;
  std::function<void()> on_stopped_;
  net::ip::tcp::acceptor acceptor_;
  net::signal_set signals_;
  std::list<net::cancellation_signal> connections_;  // one per connection: stop() emits them
  bool stopping_ = false;
};

}  // namespace upload_server
