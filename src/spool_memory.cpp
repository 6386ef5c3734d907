#include <tempfile/detail/spool_memory.hpp>

#include <tempfile/spool_budget.hpp>

#include <algorithm>
#include <cstring>
#include <utility>

#include "block_cache.hpp"

namespace tempfile::detail {
namespace {

// Per thread: 16 MiB, what 16 spools of 1 MiB hold at once.
using spool_block_cache = block_cache<spool_memory::block_size, 256>;

}  // namespace

spool_memory::spool_memory(spool_memory&& other) noexcept
    : blocks_(std::move(other.blocks_)),
      size_(std::exchange(other.size_, 0)),
      budget_(other.budget_) {
  other.blocks_.clear();  // its charge moved here with the blocks
}

spool_memory& spool_memory::operator=(spool_memory&& other) noexcept {
  if (this != &other) {
    clear();
    blocks_.swap(other.blocks_);
    size_ = std::exchange(other.size_, 0);
    budget_ = other.budget_;
  }
  return *this;
}

bool spool_memory::try_grow(std::size_t size) {
  const std::size_t needed = blocks_for(size);
  if (budget_ && !budget_->try_charge((needed - blocks_.size()) * block_size)) return false;
  take_blocks(size);
  return true;
}

void spool_memory::grow(std::size_t size) {
  const std::size_t needed = blocks_for(size);
  if (budget_) budget_->charge((needed - blocks_.size()) * block_size);
  take_blocks(size);
}

void spool_memory::take_blocks(std::size_t size) {
  const std::size_t needed = blocks_for(size);
  try {
    if (needed > blocks_.capacity())  // geometric growth: appends stay amortised O(1)
      blocks_.reserve(std::max(needed, 2 * blocks_.capacity()));
    while (blocks_.size() < needed) blocks_.push_back(spool_block_cache::take());
  } catch (...) {
    if (budget_) budget_->refund((needed - blocks_.size()) * block_size);  // the blocks not taken
    throw;
  }
}

void spool_memory::release_blocks_from(std::size_t first) noexcept {
  if (first >= blocks_.size()) return;
  if (budget_) budget_->refund((blocks_.size() - first) * block_size);
  for (std::size_t i = first; i < blocks_.size(); ++i) spool_block_cache::give_back(blocks_[i]);
  blocks_.resize(first);
}

void spool_memory::fill_zeros(std::size_t from, std::size_t to) noexcept {
  while (from < to) {
    const std::size_t within = from % block_size;
    const std::size_t n = std::min(to - from, block_size - within);
    std::memset(blocks_[from / block_size] + within, 0, n);
    from += n;
  }
}

void spool_memory::write_spanning(std::size_t offset, std::span<const std::byte> data) noexcept {
  const std::size_t end = offset + data.size();
  fill_zeros(size_, offset);  // nothing when offset <= size_
  for (std::size_t at = offset; !data.empty();) {
    const std::size_t within = at % block_size;
    const std::size_t n = std::min(data.size(), block_size - within);
    std::memcpy(blocks_[at / block_size] + within, data.data(), n);
    data = data.subspan(n);
    at += n;
  }
  size_ = std::max(size_, end);
}

std::size_t spool_memory::read(std::size_t offset, std::span<std::byte> out) const noexcept {
  std::size_t done = 0;
  while (done < out.size() && offset + done < size_) {
    const std::span<const std::byte> piece = contiguous_at(offset + done);
    const std::size_t n = std::min(out.size() - done, piece.size());
    std::memcpy(out.data() + done, piece.data(), n);
    done += n;
  }
  return done;
}

std::span<const std::byte> spool_memory::contiguous_at(std::size_t offset) const noexcept {
  const std::size_t within = offset % block_size;
  return {blocks_[offset / block_size] + within, std::min(block_size - within, size_ - offset)};
}

std::vector<std::span<const std::byte>> spool_memory::pieces() const {
  std::vector<std::span<const std::byte>> all;
  all.reserve(blocks_for(size_));
  for (std::size_t at = 0; at < size_; at += block_size) all.push_back(contiguous_at(at));
  return all;
}

void spool_memory::resize(std::size_t size) noexcept {
  if (size > size_)
    fill_zeros(size_, size);
  else
    release_blocks_from(blocks_for(size));
  size_ = size;
}

}  // namespace tempfile::detail
