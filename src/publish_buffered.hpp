#pragma once
// `buffered_file::publish_buffered`: a file's last buffered bytes written in the chain that
// publishes it, for the file types that publish.

#include <cerrno>
#include <cstdint>

#include <tempfile/buffered_file.hpp>
#include <tempfile/ops.hpp>

#include "publish.hpp"

namespace tempfile {

template <class Publish>
task<detail::publish_outcome> buffered_file::publish_buffered(Publish publish) {
  if (writing_behind()) co_await settle_write_behind();
  detail::unwritten_bytes unwritten;
  if (buffer_.dirty()) {
    if (buffer_.bytes().size() > detail::max_transfer)
      co_await flush_buffer();  // more than one write carries
    else
      unwritten = {buffer_.bytes(), static_cast<std::uint64_t>(buffer_.offset()),
                   data_only_buffered_};
  }
  set_data_beyond_buffer();  // named from now on (or partly written, should it fail)
  detail::publish_outcome done = co_await publish(unwritten);
  if (done.wrote(unwritten)) {
    if (!unwritten.bytes.empty()) buffer_.forget();
    co_return done;
  }
  if (done.written < 0 && done.written != -ECANCELED) fail(-done.written, "write");
  co_await flush_buffer();  // a short write, or a publish that could not chain the bytes
  co_return co_await publish(detail::unwritten_bytes());
}

}  // namespace tempfile
