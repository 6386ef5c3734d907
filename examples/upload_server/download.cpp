#include <sys/stat.h>

#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cerrno>
#include <memory>
#include <system_error>

#include "respond.hpp"
#include "steps.hpp"

namespace upload_server {

net::awaitable<bool> send_file(session& s, unsigned version, bool keep_alive, std::string name) {
  tempfile::unique_fd file;
  int error = 0;
  try {
    file = co_await s.files.open(name);
  } catch (const std::system_error& e) {
    if (e.code().value() == ECANCELED) throw;
    error = e.code().value();
  }
  struct stat about {};
  if (error == 0 && ::fstat(file.get(), &about) != 0) error = errno;
  if (error == 0 && !S_ISREG(about.st_mode)) error = ENOENT;  // only uploads are served
  if (error == ELOOP) error = ENOENT;                        // a symlink (O_NOFOLLOW)
  if (error != 0) {
    const auto status = error == ENOENT ? http::status::not_found : http::status::internal_server_error;
    co_await send(s, status, version, keep_alive, std::generic_category().message(error) + "\n");
    co_return keep_alive;
  }
  const auto size = static_cast<std::uint64_t>(about.st_size);

  http::response<http::empty_body> head(http::status::ok, version);
  head.set(http::field::content_type, "application/octet-stream");
  head.content_length(size);
  head.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> header(head);
  s.counters.count_response(200);
  s.stream.expires_after(s.settings.write_timeout);
  co_await http::async_write_header(s.stream, header, net::use_awaitable);
  const std::unique_ptr<std::byte[]> chunk(new std::byte[chunk_size]);
  for (std::uint64_t sent = 0; sent < size;) {
    const std::size_t n = co_await s.files.read(file.get(), {chunk.get(), chunk_size}, sent);
    // A stored file never changes (publishing is atomic): shorter means it was removed
    // and truncated under us; the announced length cannot be honoured.
    if (n == 0) co_return false;
    s.stream.expires_after(s.settings.write_timeout);
    co_await net::async_write(s.stream, net::buffer(chunk.get(), n), net::use_awaitable);
    sent += n;
  }
  co_return keep_alive;
}

}  // namespace upload_server
