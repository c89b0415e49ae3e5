// device_group_layout: a group_layout uploaded once to the device, with the workspace the CUDA
// kernels of one call reduce into (so that no call allocates).
#pragma once

#include <hadw/backend/cuda/error.cuh>
#include <hadw/backend/cuda/reduce.cuh>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace hadw {

namespace detail::cuda {

/// What a kernel reads of the layout: device pointers and sizes, passed by value.
struct layout_view {
  const std::int64_t* offsets = nullptr;      ///< num_groups + 1 CSR offsets
  const std::int64_t* permutation = nullptr;  ///< group order -> caller order; nullptr: identity
  std::int64_t num_groups = 0;
  std::int64_t num_responses = 0;

  /// Caller index of group-order position j (group_layout::index on the device).
  HADW_HOST_DEVICE std::int64_t index(std::int64_t j) const {
    return permutation ? permutation[j] : j;
  }
};

}  // namespace detail::cuda

/// A group_layout on the device: its offsets and permutation copied once into device memory,
/// plus a small workspace (one partial sum per group at most, 88 bytes each) that the CUDA
/// entry points reduce into, so that the calls themselves allocate nothing.
///
/// Build it once per step (or once per run when the shape is fixed) from the host layout:
///
///     auto layout = hadw::group_layout::from_ids(uids);
///     hadw::device_group_layout d_layout(layout, stream);   // uploads; keeps a host copy
///     hadw::estimate(hadw::backend::cuda{stream}, hadw::grpo{}, d_layout, d_rewards, d_adv);
///
/// Memory is allocated and freed stream-ordered (cudaMallocAsync / cudaFreeAsync) on the stream
/// given here, so neither construction nor destruction synchronises the device. Its workspace
/// serves one call at a time: calls on one stream are ordered, but two calls that may run at the
/// same time (different streams) need a layout each. Using it on a stream other than the one it
/// was built on needs the usual cross-stream ordering (an event) after construction.
class device_group_layout {
 public:
  explicit device_group_layout(const group_layout& layout, cudaStream_t stream = nullptr)
      : host_(layout), stream_(stream) {
    const auto groups = static_cast<std::size_t>(layout.num_groups());
    const auto perm = layout.permutation();
    for (std::int64_t k = 0; k < layout.num_groups(); ++k)
      max_group_size_ = std::max(max_group_size_, layout.size(k));
    const std::size_t bytes = partials_at() + groups * detail::cuda::partial_bytes +
                              (groups + 1) * sizeof(std::int64_t) +
                              perm.size() * sizeof(std::int64_t);
    HADW_CUDA_CHECK(cudaMallocAsync(&memory_, bytes, stream_));
    auto* base = static_cast<unsigned char*>(memory_);
    offsets_ = reinterpret_cast<std::int64_t*>(base + partials_at() +
                                               groups * detail::cuda::partial_bytes);
    try {
      HADW_CUDA_CHECK(cudaMemsetAsync(memory_, 0, sizeof(detail::cuda::workspace_header), stream_));
      HADW_CUDA_CHECK(cudaMemcpyAsync(offsets_, layout.offsets().data(),
                                      (groups + 1) * sizeof(std::int64_t), cudaMemcpyHostToDevice,
                                      stream_));
      if (!perm.empty()) {
        permutation_ = offsets_ + groups + 1;
        HADW_CUDA_CHECK(cudaMemcpyAsync(permutation_, perm.data(),
                                        perm.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice,
                                        stream_));
      }
    } catch (...) {
      (void)cudaFreeAsync(memory_, stream_);
      throw;
    }
  }
  device_group_layout(const device_group_layout&) = delete;
  device_group_layout& operator=(const device_group_layout&) = delete;
  device_group_layout(device_group_layout&& o) noexcept
      : host_(o.host_),
        stream_(o.stream_),
        max_group_size_(o.max_group_size_),
        memory_(std::exchange(o.memory_, nullptr)),
        offsets_(o.offsets_),
        permutation_(o.permutation_) {}
  ~device_group_layout() {
    if (memory_) (void)cudaFreeAsync(memory_, stream_);  // stream-ordered: no device-wide sync
  }

  /// The host layout this was built from (error messages, host-side checks).
  [[nodiscard]] const group_layout& host() const noexcept { return host_; }
  [[nodiscard]] std::int64_t num_groups() const noexcept { return host_.num_groups(); }
  [[nodiscard]] std::int64_t num_responses() const noexcept { return host_.num_responses(); }
  [[nodiscard]] std::int64_t max_group_size() const noexcept { return max_group_size_; }
  [[nodiscard]] cudaStream_t stream() const noexcept { return stream_; }

  /// Device pointers for the kernels.
  [[nodiscard]] detail::cuda::layout_view view() const noexcept {
    return {offsets_, permutation_, host_.num_groups(), host_.num_responses()};
  }
  [[nodiscard]] detail::cuda::workspace_header* header() const noexcept {
    return static_cast<detail::cuda::workspace_header*>(memory_);
  }
  /// One partial sum per block of a launch (a launch has at most num_groups() blocks).
  template <class Totals>
  [[nodiscard]] Totals* partials() const noexcept {
    static_assert(sizeof(Totals) <= detail::cuda::partial_bytes);
    return reinterpret_cast<Totals*>(static_cast<unsigned char*>(memory_) + partials_at());
  }

 private:
  static constexpr std::size_t partials_at() {
    return (sizeof(detail::cuda::workspace_header) + 255) / 256 * 256;
  }

  group_layout host_;
  cudaStream_t stream_ = nullptr;
  std::int64_t max_group_size_ = 0;
  void* memory_ = nullptr;
  std::int64_t* offsets_ = nullptr;
  std::int64_t* permutation_ = nullptr;
};

/// A flat per-response device array viewed through its device layout: what the CUDA
/// hadw::reweight takes (the device twin of grouped_span).
template <class T>
struct device_grouped_span {
  std::span<T> values;
  const device_group_layout* layout;
};

/// Pairs a device array with its device layout (which must outlive the view).
template <class T>
[[nodiscard]] device_grouped_span<T> grouped(std::span<T> values,
                                             const device_group_layout& layout) {
  detail::require_size(values.size(), static_cast<std::size_t>(layout.num_responses()), "values",
                       "layout.num_responses()");
  return {values, &layout};
}

}  // namespace hadw
