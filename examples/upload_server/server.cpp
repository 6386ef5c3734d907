#include "server.hpp"

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "exchange.hpp"

namespace upload_server {

using tcp = net::ip::tcp;

server::server(net::io_context& context, const config& settings, storage& files,
               std::function<void()> on_stopped)
    : context_(context),
      settings_(settings),
      files_(files),
      on_stopped_(std::move(on_stopped)),
      acceptor_(context, tcp::endpoint(tcp::v4(), settings.port)),
      signals_(context, SIGINT, SIGTERM) {}

unsigned short server::port() const { return acceptor_.local_endpoint().port(); }

void server::start() {
  net::co_spawn(context_, accept_connections(), net::detached);
  signals_.async_wait([this](const boost::system::error_code& error, int) {
    if (!error) stop();
  });
}

net::awaitable<void> server::accept_connections() {
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(net::as_tuple(net::use_awaitable));
    if (error == net::error::operation_aborted) co_return;
    if (error) continue;  // e.g. out of descriptors: the connections already open go on
    socket.set_option(tcp::no_delay(true));
    auto connection = connections_.emplace(connections_.end());
    net::co_spawn(context_, serve(std::move(socket), connection),
                  net::bind_cancellation_slot(connection->cancel.slot(), [this, connection](std::exception_ptr) {
                    // Erased later: the signal's slot belongs to the coroutine just ended.
                    net::post(context_, [this, connection] {
                      connections_.erase(connection);
                      connection_ended();
                    });
                  }));
  }
}

net::awaitable<void> server::serve(tcp::socket socket, connection_list::iterator self) {
  self->socket = &socket;
  struct forget_socket {
    connection& record;
    ~forget_socket() { record.socket = nullptr; }
  } forget{*self};
  boost::beast::flat_buffer buffer;
  // Beast reads at most the buffer's free capacity (at least 512 bytes, at most 64 KiB) per
  // receive: left at its first size, a 4 MiB body took 8,000 receives.
  buffer.reserve(64 << 10);
  const std::unique_ptr<std::byte[]> chunk_memory(new std::byte[chunk_size]);
  const std::span<std::byte> chunk(chunk_memory.get(), chunk_size);
  while (!stopping_ && co_await answer_one(socket, buffer, chunk, settings_, files_)) {
  }
  if (stopping_) co_return;
  // A lingering close: a client still sending a body we refused reads our answer before
  // the connection goes, instead of a reset that could discard it.
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  for (std::uint64_t drained = 0; drained <= settings_.max_body;) {
    auto [error, n] = co_await socket.async_read_some(net::buffer(chunk.data(), chunk.size()),
                                                      net::as_tuple(net::use_awaitable));
    if (error) break;
    drained += n;
  }
}

void server::stop() {
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  // Each connection's current operation, a socket read or a step on the ring, is cancelled;
  // an upload's destructor then drops its data and its temporary file.
  for (auto& connection : connections_) {
    connection.cancel.emit(net::cancellation_type::terminal);
    if (connection.socket) {
      // Shut down too: a read a coroutine starts after this ends at once instead of waiting.
      connection.socket->cancel(ignored);
      connection.socket->shutdown(tcp::socket::shutdown_both, ignored);
    }
  }
  connection_ended();
}

void server::connection_ended() {
  if (stopping_ && connections_.empty() && on_stopped_) std::exchange(on_stopped_, nullptr)();
}

}  // namespace upload_server
