#include "server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <tempfile/io_ring.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <memory>

#include "exchange.hpp"

namespace upload_server {

using tcp = net::ip::tcp;

namespace {

constexpr auto with_error = net::as_tuple(net::use_awaitable);

/// How long accepting pauses when the process is out of descriptors or memory: retrying at
/// once fails again at once (a spinning core) while the connections already open need the
/// descriptors that their ending frees.
constexpr std::chrono::milliseconds accept_backoff{100};

bool out_of_resources(const boost::system::error_code& error) {
  switch (error.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM: return error.category() == boost::system::system_category();
    default: return false;
  }
}

}  // namespace

tcp::acceptor listen_shared(net::io_context& context, unsigned short port) {
  tcp::acceptor acceptor(context, tcp::v4());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  const int on = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
    throw std::system_error(errno, std::generic_category(), "setsockopt SO_REUSEPORT");
  acceptor.bind(tcp::endpoint(tcp::v4(), port));
  acceptor.listen();
  return acceptor;
}

server::server(net::io_context& context, tcp::acceptor acceptor, const config& settings,
               storage& files, metrics& counters, unsigned shard, const tempfile::io_ring* ring,
               std::function<void()> on_stopped)
    : context_(context),
      settings_(settings),
      files_(files),
      counters_(counters),
      ring_counters_(&counters.rings[shard]),
      ring_(ring),
      on_stopped_(std::move(on_stopped)),
      acceptor_(std::move(acceptor)),
      signals_(context, SIGINT, SIGTERM),
      pause_(context) {}

void server::start() {
  net::co_spawn(context_, accept_connections(), net::detached);
  signals_.async_wait([this](const boost::system::error_code& error, int) {
    if (!error) stop();
  });
}

net::awaitable<void> server::accept_connections() {
  while (!stopping_) {
    if (connections_.size() >= settings_.max_connections) {
      co_await wait_for_room();
      continue;
    }
    auto [error, socket] = co_await acceptor_.async_accept(with_error);
    if (error == net::error::operation_aborted) co_return;
    if (out_of_resources(error)) {
      counters_.accept_backoffs.fetch_add(1, std::memory_order_relaxed);
      pause_.expires_after(accept_backoff);
      co_await pause_.async_wait(with_error);
      continue;
    }
    if (error) continue;  // that client's connection failed (e.g. reset while queued)
    boost::system::error_code reset;  // a client gone already is found out by the first read
    socket.set_option(tcp::no_delay(true), reset);
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

net::awaitable<void> server::wait_for_room() {
  pause_.expires_at(net::steady_timer::time_point::max());
  co_await pause_.async_wait(with_error);  // connection_ended() cancels it
}

net::awaitable<void> server::serve(tcp::socket socket, connection_list::iterator self) {
  boost::beast::tcp_stream stream(std::move(socket));
  self->stream = &stream;
  const gauge_hold open(counters_.connections_open);
  struct forget_stream {
    connection& record;
    ~forget_stream() { record.stream = nullptr; }
  } forget{*self};
  boost::beast::flat_buffer buffer;
  session this_connection{stream, buffer, settings_, files_, counters_};
  try {
    for (bool first = true; !stopping_; first = false) {
      const bool go_on = co_await answer_one(this_connection, first);
      if (ring_) ring_counters_->copy_from(*ring_);
      if (!go_on) break;
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != boost::beast::error::timeout) throw;
    counters_.connections_timed_out.fetch_add(1, std::memory_order_relaxed);
    co_return;  // the stream closed the socket
  }
  if (stopping_) co_return;
  co_await linger(stream);
}

net::awaitable<void> server::linger(boost::beast::tcp_stream& stream) {
  // A lingering close: a client still sending a body we refused reads our answer before
  // the connection goes, instead of a reset that could discard it. Bounded in bytes and time.
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(settings_.body_timeout);
  const std::unique_ptr<std::byte[]> sink(new std::byte[chunk_size]);
  for (std::uint64_t drained = 0; drained <= settings_.max_body;) {
    auto [error, n] = co_await stream.async_read_some(net::buffer(sink.get(), chunk_size), with_error);
    if (error) break;
    drained += n;
  }
}

void server::stop() {
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  pause_.cancel();
  // Each connection's current operation, a socket read or a step on the ring, is cancelled;
  // an upload's destructor then drops its data and its temporary file.
  for (auto& connection : connections_) {
    connection.cancel.emit(net::cancellation_type::terminal);
    if (connection.stream) {
      // Shut down too: a read a coroutine starts after this ends at once instead of waiting.
      connection.stream->socket().cancel(ignored);
      connection.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  }
  connection_ended();
}

void server::connection_ended() {
  pause_.cancel();  // room below --max-connections
  if (stopping_ && connections_.empty() && on_stopped_) std::exchange(on_stopped_, nullptr)();
}

}  // namespace upload_server
