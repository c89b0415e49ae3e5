// hadw::mpi's collectives: MPI error checks, the ordered all-gather, and the exact global y_t of
// non-binary rewards (the single process's sum, term for term). Opt-in with hadw/interop/mpi.hpp.
#pragma once

#include <hadw/api/reweight.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>

#include <mpi.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hadw::mpi {

namespace detail {

/// MPI reports failures through return codes only under MPI_ERRORS_RETURN (the default handler
/// aborts). A failed collective is not a bad argument, hence std::runtime_error.
inline void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) [[likely]]
    return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  throw std::runtime_error(std::string("hadw::mpi: ") + call +
                           " failed: " + std::string(text, len));
}

inline int rank_of(MPI_Comm comm) {
  int r = 0;
  check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank");
  return r;
}
inline int size_of(MPI_Comm comm) {
  int n = 0;
  check(MPI_Comm_size(comm, &n), "MPI_Comm_size");
  return n;
}

/// Visits every response in group order (groups in layout order, then group-order positions
/// within a group, as the batch scan walks them), passing its normalised reward, or NaN when the
/// response is masked out or unscorable. The inputs were checked by the scan before.
template <class R, class F>
void for_each_in_group_order(const group_layout& layout, std::span<R> rewards,
                             const reweight_options& opt, F&& f) {
  for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
      const auto i = static_cast<std::size_t>(layout.index(j));
      const double r = static_cast<double>(rewards[i]);
      const bool excluded = (!opt.mask.empty() && opt.mask[i] == 0) || std::isnan(r);
      f(excluded ? std::numeric_limits<double>::quiet_NaN() : opt.range.normalise(r));
    }
  }
}

/// Whether every valid normalised reward of this rank is exactly 0 or 1, and how many are 1 (the
/// sum of a 0/1 batch, exact as an integer).
template <class R>
[[nodiscard]] std::pair<bool, std::int64_t> binary_ones(const group_layout& layout,
                                                        std::span<R> rewards,
                                                        const reweight_options& opt) {
  bool binary = true;
  std::int64_t ones = 0;
  for_each_in_group_order(layout, rewards, opt, [&](double u) {
    if (std::isnan(u)) return;
    ones += u == 1.0;
    binary = binary && (u == 0.0 || u == 1.0);
  });
  return {binary, ones};
}

/// MPI_Allgatherv of `mine` in rank order (every rank receives the concatenation).
template <class T>
[[nodiscard]] std::vector<T> allgather_in_rank_order(MPI_Comm comm, const std::vector<T>& mine,
                                                     MPI_Datatype type) {
  const int ranks = size_of(comm);
  const auto r = static_cast<std::size_t>(ranks);
  // MPI counts are int: a step's responses (at most a few 10^5) are far below INT_MAX.
  hadw::detail::require(mine.size() <= static_cast<std::size_t>(INT_MAX),
                        "hadw::mpi: ", mine.size(),
                        " values on one rank exceed MPI's int count limit");
  const int n = static_cast<int>(mine.size());
  std::vector<int> counts(r), displs(r);
  check(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm), "MPI_Allgather");
  std::int64_t total = 0;
  for (std::size_t q = 0; q < r; ++q) {
    hadw::detail::require(total <= INT_MAX, "hadw::mpi: ", total,
                          " values in one step exceed MPI's int displacement limit");
    displs[q] = static_cast<int>(total);
    total += counts[q];
  }
  std::vector<T> all(static_cast<std::size_t>(total));
  check(MPI_Allgatherv(mine.data(), n, type, all.data(), counts.data(), displs.data(), type, comm),
        "MPI_Allgatherv");
  return all;
}

/// y_t for mean_reward with non-binary rewards, computed as the single process computes it: the
/// global batch's group sizes and normalised rewards (NaN where excluded) are gathered in rank
/// order, and hadw's own batch scan runs over them with the global group structure. Whatever
/// association that scan uses for its double sum (per group, then fixed blocks of groups), the
/// terms and their grouping are the single process's, so the bits are too.
template <class R>
[[nodiscard]] double gathered_mean_reward(MPI_Comm comm, const group_layout& layout,
                                          std::span<R> rewards, const reweight_options& opt) {
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(layout.num_groups()));
  for (std::int64_t k = 0; k < layout.num_groups(); ++k)
    sizes[static_cast<std::size_t>(k)] = layout.size(k);
  std::vector<double> values;
  values.reserve(static_cast<std::size_t>(layout.num_responses()));
  for_each_in_group_order(layout, rewards, opt, [&](double u) { values.push_back(u); });

  const std::vector<std::int64_t> all_sizes = allgather_in_rank_order(comm, sizes, MPI_INT64_T);
  const std::vector<double> all_values = allgather_in_rank_order(comm, values, MPI_DOUBLE);
  std::vector<std::int64_t> offsets(all_sizes.size() + 1, 0);
  for (std::size_t k = 0; k < all_sizes.size(); ++k) offsets[k + 1] = offsets[k] + all_sizes[k];
  const auto global = group_layout::from_offsets(offsets);

  reweight_options gathered;  // values are normalised already: range [0, 1] maps u to u exactly
  gathered.nan = nan_policy::unscorable;
  gathered.observation = observation_kind::mean_reward;
  return hadw::detail::scan_rewards(global, std::span<const double>(all_values), gathered)
      .accuracy(observation_kind::mean_reward);
}

}  // namespace detail

}  // namespace hadw::mpi
