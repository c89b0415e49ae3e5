// group_layout: which responses belong to which prompt's group.
#pragma once

#include <hadw/concepts.hpp>
#include <hadw/error.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <numeric>
#include <ranges>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hadw {

/// The grouping of a flat batch of N responses into B prompt groups.
///
/// Groups are addressed in *group order*: positions 0..N-1 where group k occupies
/// [begin(k), end(k)). For `uniform` and `from_offsets` layouts group order is the caller's order.
/// For `from_ids` the responses may arrive in any order (as verl's uid arrays); the layout then
/// holds a permutation and `index(j)` maps group-order position j to the caller's index, so every
/// output lands at the caller's original position.
///
/// Building a layout allocates (offsets, permutation); build it once per step and reuse it across
/// estimate/reweight/broadcast calls, which allocate nothing.
class group_layout {
public:
  /// num_groups groups of group_size consecutive responses each. Requires num_groups >= 1 and
  /// group_size >= 1.
  [[nodiscard]] static group_layout uniform(std::int64_t num_groups, std::int64_t group_size) {
    detail::require(num_groups >= 1, "num_groups >= 1 required, got ", num_groups);
    detail::require(group_size >= 1, "group_size >= 1 required, got ", group_size);
    detail::require(num_groups <= INT64_MAX / group_size,
                    "num_groups * group_size must fit in int64, got ", num_groups, " * ",
                    group_size);
    group_layout l;
    l.uniform_size_ = group_size;
    l.offsets_.resize(static_cast<std::size_t>(num_groups) + 1);
    for (std::int64_t k = 0; k <= num_groups; ++k) l.offsets_[static_cast<std::size_t>(k)] = k * group_size;
    return l;
  }

  /// Ragged groups from CSR offsets: group k is [offsets[k], offsets[k+1]). Requires
  /// offsets.size() >= 2, offsets[0] == 0, strictly increasing offsets (no empty group) and
  /// offsets representable as int64 (an unsigned offset past INT64_MAX would wrap negative).
  /// I: any standard integer type (int8_t through uint64_t); bool and character types do not
  /// compile.
  template <std::integral I>
  [[nodiscard]] static group_layout from_offsets(std::span<const I> offsets) {
    require_offset_type<I>();
    if constexpr (standard_integer<I>) return checked_offsets(offsets);
    else return {};  // not compiled past the static_assert above: one error, not two
  }
  template <std::integral I>
  [[nodiscard]] static group_layout from_offsets(const std::vector<I>& offsets) {
    require_offset_type<I>();
    if constexpr (standard_integer<I>) return checked_offsets(std::span<const I>(offsets));
    else return {};
  }
  [[nodiscard]] static group_layout from_offsets(std::initializer_list<std::int64_t> offsets) {
    return from_offsets(std::span<const std::int64_t>(offsets.begin(), offsets.size()));
  }

  /// Groups from one id per response (verl's `index` / uid array): any order, any id type that is
  /// hashable and equality-comparable (integers, std::string, std::string_view, ...). Groups are
  /// numbered by first appearance; inside a group responses keep their relative order, so
  /// results do not depend on how a hash map iterates. Requires at least one id.
  template <std::ranges::input_range Ids>
    requires requires(const std::ranges::range_value_t<Ids>& id) {
      { std::hash<std::ranges::range_value_t<Ids>>{}(id) } -> std::convertible_to<std::size_t>;
    }
  [[nodiscard]] static group_layout from_ids(const Ids& ids) {
    using id_type = std::ranges::range_value_t<Ids>;
    std::unordered_map<id_type, std::int64_t> group_of;
    std::vector<std::int64_t> group_index;  // per response, in caller order
    std::vector<std::int64_t> sizes;
    for (const auto& id : ids) {
      auto [it, inserted] = group_of.try_emplace(id, static_cast<std::int64_t>(sizes.size()));
      if (inserted) sizes.push_back(0);
      ++sizes[static_cast<std::size_t>(it->second)];
      group_index.push_back(it->second);
    }
    detail::require(!group_index.empty(), "ids must not be empty");
    group_layout l;
    l.offsets_.resize(sizes.size() + 1, 0);
    std::inclusive_scan(sizes.begin(), sizes.end(), l.offsets_.begin() + 1);
    // Counting sort: stable, so each group keeps the caller's relative order.
    std::vector<std::int64_t> cursor(l.offsets_.begin(), l.offsets_.end() - 1);
    l.permutation_.resize(group_index.size());
    bool identity = true;
    for (std::size_t i = 0; i < group_index.size(); ++i) {
      const auto pos = cursor[static_cast<std::size_t>(group_index[i])]++;
      l.permutation_[static_cast<std::size_t>(pos)] = static_cast<std::int64_t>(i);
      identity = identity && pos == static_cast<std::int64_t>(i);
    }
    if (identity) l.permutation_.clear();  // already group-contiguous: no gather needed
    l.uniform_size_ = l.detect_uniform();
    return l;
  }
  template <class Id>
  [[nodiscard]] static group_layout from_ids(std::initializer_list<Id> ids) {
    return from_ids(std::span<const Id>(ids.begin(), ids.size()));
  }

  [[nodiscard]] std::int64_t num_groups() const noexcept {
    return static_cast<std::int64_t>(offsets_.size()) - 1;
  }
  [[nodiscard]] std::int64_t num_responses() const noexcept { return offsets_.back(); }
  [[nodiscard]] std::int64_t begin(std::int64_t k) const noexcept {
    return offsets_[static_cast<std::size_t>(k)];
  }
  [[nodiscard]] std::int64_t end(std::int64_t k) const noexcept {
    return offsets_[static_cast<std::size_t>(k) + 1];
  }
  [[nodiscard]] std::int64_t size(std::int64_t k) const noexcept { return end(k) - begin(k); }
  /// CSR offsets, num_groups() + 1 entries.
  [[nodiscard]] std::span<const std::int64_t> offsets() const noexcept { return offsets_; }
  /// Every group has the same size (0 when ragged).
  [[nodiscard]] std::int64_t uniform_size() const noexcept { return uniform_size_; }
  [[nodiscard]] bool is_uniform() const noexcept { return uniform_size_ > 0; }
  /// True when group order differs from the caller's order (from_ids on unsorted ids).
  [[nodiscard]] bool has_permutation() const noexcept { return !permutation_.empty(); }
  /// group-order position -> caller index; empty when the layout is already group-contiguous.
  [[nodiscard]] std::span<const std::int64_t> permutation() const noexcept { return permutation_; }
  /// The caller's index of group-order position j.
  [[nodiscard]] std::int64_t index(std::int64_t j) const noexcept {
    return permutation_.empty() ? j : permutation_[static_cast<std::size_t>(j)];
  }

  friend bool operator==(const group_layout&, const group_layout&) = default;

private:
  group_layout() = default;

  template <standard_integer I>
  [[nodiscard]] static group_layout checked_offsets(std::span<const I> offsets) {
    detail::require(offsets.size() >= 2,
                    "offsets.size() >= 2 required (num_groups + 1 entries), got ", offsets.size());
    detail::require(offsets[0] == 0, "offsets[0] == 0 required, got ", offsets[0]);
    group_layout l;
    l.offsets_.resize(offsets.size());
    for (std::size_t k = 0; k < offsets.size(); ++k) {
      if (k > 0)
        detail::require(offsets[k] > offsets[k - 1],
                        "offsets strictly increasing required (every group non-empty), got offsets[",
                        k - 1, "] = ", offsets[k - 1], " and offsets[", k, "] = ", offsets[k]);
      detail::require(std::in_range<std::int64_t>(offsets[k]), "offsets[", k,
                      "] <= INT64_MAX required, got ", offsets[k]);
      l.offsets_[k] = static_cast<std::int64_t>(offsets[k]);
    }
    l.uniform_size_ = l.detect_uniform();
    return l;
  }

  template <class I>
  static constexpr void require_offset_type() {
    static_assert(standard_integer<I>,
                  "hadw::group_layout::from_offsets: offsets must be a standard integer type "
                  "(int8_t ... uint64_t), not bool or a character type");
  }

  [[nodiscard]] std::int64_t detect_uniform() const noexcept {
    const std::int64_t g = offsets_[1] - offsets_[0];
    for (std::size_t k = 1; k + 1 < offsets_.size(); ++k)
      if (offsets_[k + 1] - offsets_[k] != g) return 0;
    return g;
  }

  std::vector<std::int64_t> offsets_;
  std::vector<std::int64_t> permutation_;
  std::int64_t uniform_size_ = 0;
};

/// A flat per-response array viewed through its layout: what hadw::reweight takes (a null
/// layout is refused there; build it with grouped()).
template <class T>
struct grouped_span {
  std::span<T> values;
  const group_layout* layout;
};

/// Pairs a flat array with its layout. The layout must outlive the returned view (a temporary
/// layout is fine inside one call expression).
template <class T>
[[nodiscard]] grouped_span<T> grouped(std::span<T> values, const group_layout& layout) {
  detail::require_size(values.size(), static_cast<std::size_t>(layout.num_responses()), "values",
                       "layout.num_responses()");
  return {values, &layout};
}

}  // namespace hadw
