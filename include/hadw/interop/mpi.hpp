// hadw::mpi: data-parallel HA-DW over MPI. Every rank weights its slice of the batch with one
// shared prior C_t^-, and every rank observes the same global y_t, so every rank's difficulty
// anchor stays bit-identical to the others' and to a single-process run over the whole batch.
//
// Opt-in (not in hadw.hpp): link hadw::mpi (CMake option HADW_ENABLE_MPI), which brings
// MPI::MPI_CXX. hadw does no communication of its own; this header is a thin layer over MPI
// collectives and the communication-agnostic API of reweight.hpp (reweight_options::update_anchor =
// false, then difficulty_anchor::observe). docs/distributed.md shows the same recipe for
// torch.distributed.
#pragma once

#include <hadw/anchor/anchor.hpp>
#include <hadw/detail/bytes.hpp>
#include <hadw/interop/mpi/collectives.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/api/reweight.hpp>

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hadw::mpi {

/// How the global observation y_t crossed the ranks.
enum class reduction_path : std::uint8_t {
  /// Integer counts only (one MPI_Allreduce): observation_kind::success_rate, or mean_reward when
  /// every normalised reward is exactly 0 or 1. Integer sums are associative, so the result is
  /// independent of rank count, rank order and MPI's reduction algorithm.
  counts,
  /// mean_reward with non-binary rewards: a double sum depends on the association of its terms,
  /// so the group sizes and every normalised reward are gathered in rank order (MPI_Allgatherv)
  /// and every rank runs hadw's own batch scan over the gathered batch: the single-process sum,
  /// term for term and bracket for bracket.
  ordered_values,
};

/// step_stats of this rank's slice (batch_accuracy, correct, total, phi_*, adv_* are local;
/// prior, posterior, eta, weighting_belief and step are the shared anchor's), plus the global
/// observation every rank fed its anchor.
struct synchronized_stats : step_stats {
  double global_accuracy = NAN;     ///< y_t of the whole global batch (what the anchor observed)
  std::int64_t global_correct = 0;  ///< sum over ranks of step_stats::correct
  std::int64_t global_total = 0;    ///< sum over ranks of step_stats::total
  int world_size = 0;
  reduction_path path = reduction_path::counts;

  /// step_stats::for_each, then "hadw/global_accuracy", "hadw/global_correct",
  /// "hadw/global_total".
  template <class F>
  void for_each(F&& f) const {
    step_stats::for_each(f);
    f(std::string_view("hadw/global_accuracy"), global_accuracy);
    f(std::string_view("hadw/global_correct"), static_cast<double>(global_correct));
    f(std::string_view("hadw/global_total"), static_cast<double>(global_total));
  }
};


/// One data-parallel HA-DW step (paper §3, DESIGN.md §3 "Data-parallel"). Collective: every rank
/// of `comm` calls it once per step with its own slice (its prompts' groups) and its replica of
/// the anchor. Then:
///   1. each rank validates its slice and counts (correct, ones, total) — nothing is written yet;
///   2. ONE MPI_Allreduce(MPI_SUM) of five int64: the counts, plus "ranks that failed" and "ranks
///      with non-binary rewards". The flags cost nothing extra (one latency-bound message) and
///      keep a rank whose input is bad from leaving the others blocked in a collective: every
///      rank throws instead, and no rank has touched its advantages or anchor;
///   3. y_t = global correct / total (success_rate), global ones / total (mean_reward, 0/1
///      rewards), or, for mean_reward with non-binary rewards, the batch scan of the gathered
///      global batch (reduction_path::ordered_values: two MPI_Allgather + MPI_Allgatherv pairs,
///      one of the group sizes, one of the normalised rewards, 8 bytes per response);
///   4. each rank weights its advantages with the shared belief (C_t^- for anchor_timing::prior,
///      C_t^+ for ::posterior) and its anchor observes y_t.
///
/// Exactness: if rank r's slice is the r-th contiguous block of the global batch's groups (in
/// layout order), the anchor after every step and every weighted advantage equal, bit for bit,
/// those of hadw::reweight on the whole batch in one process. With any other split (e.g. a
/// strided sampler), the counts path is still exactly that, and the ordered path still gives
/// every rank the same bits (the anchors never diverge), those of one process fed the groups in
/// rank order.
///
/// The weighting itself is rank-local: Phi needs only the group's p̂ and the shared belief. An
/// estimator with batch-level statistics (grpo_batch_std, reinforce_pp_baseline) needs its batch
/// moments reduced across ranks before hadw::estimate; that is not done here.
///
/// A rank whose slice has no valid response (all masked or unscorable) takes part and writes
/// nothing; only a global batch with no valid response is an error. Throws hadw::error on every
/// rank when any rank's input is invalid (that rank's message is hadw::reweight's), before any
/// rank writes anything.
template <class A, class R, class Belief>
synchronized_stats synchronized_reweight(MPI_Comm comm, grouped_span<A> advantages,
                                         grouped_span<R> rewards, difficulty_anchor<Belief>& anchor,
                                         const reweight_options& options = {}) {
  static_assert(!std::is_const_v<A>,
                "hadw::mpi::synchronized_reweight: advantages must be writable (std::span<T>)");
  const group_layout& layout = *rewards.layout;
  synchronized_stats st;
  st.world_size = detail::size_of(comm);

  // This rank's checks (reweight's own, an empty slice allowed); a failure is rethrown after
  // the collective, so no rank is left waiting in it.
  observation local;
  std::pair<bool, std::int64_t> binary_ones{true, 0};
  std::exception_ptr failure;
  try {
    local = hadw::detail::scan_for_reweight(advantages, rewards, options, true);
    binary_ones = detail::binary_ones(layout, rewards.values, options);
  } catch (...) {
    failure = std::current_exception();
  }

  // The step's backend: observe() merges the ranks' observations (one all-reduce), the anchor
  // observes the global y_t, and the weights are this rank's CPU kernel.
  struct backend {
    MPI_Comm comm;
    synchronized_stats& st;
    const observation& local;
    std::pair<bool, std::int64_t> binary_ones;
    std::exception_ptr failure;
    grouped_span<A> advantages;
    grouped_span<R> rewards;
    const reweight_options& options;

    observation observe() {
      // {correct, ones, total, failed ranks, ranks with non-binary rewards}
      std::int64_t sums[5] = {local.correct, binary_ones.second, local.total, failure ? 1 : 0,
                              binary_ones.first ? 0 : 1};
      detail::check(MPI_Allreduce(MPI_IN_PLACE, sums, 5, MPI_INT64_T, MPI_SUM, comm),
                    "MPI_Allreduce");
      if (sums[3] > 0) {
        if (failure) std::rethrow_exception(failure);
        throw hadw::error(hadw::detail::concat(
            "hadw::mpi::synchronized_reweight: ", sums[3], " of ", st.world_size,
            " ranks had invalid input (see their errors); no rank weighted or observed this step"));
      }
      hadw::detail::require(
          sums[2] > 0, "rewards: no valid response in the global batch (all masked or unscorable)");
      st.global_correct = sums[0];
      st.global_total = sums[2];
      st.global_accuracy =
          options.observation == observation_kind::success_rate
              ? static_cast<double>(sums[0]) / static_cast<double>(sums[2])
          : sums[4] == 0 ? static_cast<double>(sums[1]) / static_cast<double>(sums[2])
                         : NAN;
      if (std::isnan(st.global_accuracy)) {  // the sum of non-binary rewards, in one order
        st.path = reduction_path::ordered_values;
        st.global_accuracy =
            detail::gathered_mean_reward(comm, *rewards.layout, rewards.values, options);
      }
      return local;
    }
    [[nodiscard]] double anchor_input(const observation&) const { return st.global_accuracy; }
    hadw::detail::step_totals weigh(const hadw::detail::weighting<>& w) {
      if (local.total == 0) return {};
      const auto view = hadw::detail::reweight_view(*rewards.layout, rewards.values, options);
      return hadw::detail::cpu_weighing(options.range, [&](const auto& wr) {
        return hadw::detail::cpu::with_reader(view, [&](const auto& in) {
          return hadw::detail::cpu::run_step(*rewards.layout, hadw::detail::cpu::no_estimator{},
                                             batch_stats{}, wr, in, advantages.values.data(),
                                             hadw::detail::cpu::no_rows{}, 0);
        });
      })(w);
    }
  };
  // The global y_t is observed even when this call does not commit it: every rank's anchor
  // must see the same observations (update_anchor = false is for callers that observe
  // themselves, which a synchronised step does for them).
  reweight_options o = options;
  o.update_anchor = true;
  static_cast<step_stats&>(st) = hadw::detail::hadw_step(
      anchor, o, layout.num_groups(),
      backend{comm, st, local, binary_ones, failure, advantages, rewards, options});
  return st;
}

/// FNV-1a (64 bit) of anchor.save(): equal states hash equal; a difference is missed with
/// probability about 2^-64.
template <class Belief>
[[nodiscard]] std::uint64_t state_hash(const difficulty_anchor<Belief>& anchor) {
  const std::vector<std::uint8_t> bytes = anchor.save();
  return hadw::detail::fnv1a64(bytes);
}

/// Collective: the lowest rank whose anchor state differs from rank 0's, or -1 when every rank
/// holds rank 0's state. One MPI_Bcast of rank 0's state_hash, one MPI_Allreduce(MPI_MIN); every
/// rank gets the same answer.
template <class Belief>
[[nodiscard]] int first_divergent_rank(MPI_Comm comm, const difficulty_anchor<Belief>& anchor) {
  const std::uint64_t mine = state_hash(anchor);
  std::uint64_t root = mine;
  detail::check(MPI_Bcast(&root, 1, MPI_UINT64_T, 0, comm), "MPI_Bcast");
  const int ranks = detail::size_of(comm);
  int divergent = mine == root ? ranks : detail::rank_of(comm);
  detail::check(MPI_Allreduce(MPI_IN_PLACE, &divergent, 1, MPI_INT, MPI_MIN, comm),
                "MPI_Allreduce");
  return divergent == ranks ? -1 : divergent;
}

/// Collective: whether every rank holds the same anchor state as rank 0 (same answer on all).
template <class Belief>
[[nodiscard]] bool anchors_identical(MPI_Comm comm, const difficulty_anchor<Belief>& anchor) {
  return first_divergent_rank(comm, anchor) < 0;
}

/// Collective: throws hadw::error on every rank, naming the first divergent rank, unless every
/// rank holds rank 0's anchor state. Cheap enough to call every step, or after a checkpoint load.
template <class Belief>
void require_identical_anchors(MPI_Comm comm, const difficulty_anchor<Belief>& anchor) {
  const int r = first_divergent_rank(comm, anchor);
  hadw::detail::require(r < 0, "anchor: rank ", r,
                        "'s difficulty_anchor state differs from rank 0's "
                        "(state_hash); data-parallel ranks must observe the same global counts");
}

}  // namespace hadw::mpi
