// After an anchor's first observation, a step allocates nothing (docs/errors.md: building a
// layout allocates, nothing else does). This translation unit replaces the global operator new
// and counts the allocations made inside the measured calls.
#include <hadw/hadw.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace {
bool counting = false;
long allocations = 0;

void* counted(std::size_t n, std::size_t align) {
  if (counting) ++allocations;
  if (n == 0) n = 1;
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(n)
                : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (!p) throw std::bad_alloc();
  return p;
}

/// The allocations f makes.
template <class F>
long allocations_in(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new[](std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return counted(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted(n, static_cast<std::size_t>(a));
}
// The nothrow forms too (Catch allocates with them): every form of new and delete is ours, so
// no allocation meets a delete of another allocator (AddressSanitizer checks that).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

TEST_CASE("the counter sees a std::vector's allocation", "[no_alloc]") {
  CHECK(allocations_in([] { std::vector<double> v(10); }) == 1);
}

TEMPLATE_TEST_CASE("reweight and the fused calls allocate nothing after the first step",
                   "[no_alloc]", hadw::kalman_belief, hadw::window_mean_belief,
                   hadw::fixed_belief) {
  // Regression: reweight copied the anchor (its history vector) on every step.
  const auto layout = hadw::group_layout::uniform(8, 4);
  const std::vector<float> r{1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0,
                             0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0};
  std::vector<float> adv(r.size()), tok(r.size() * 3);
  const std::vector<std::uint8_t> tmask(tok.size(), 1);
  for (const auto timing : {hadw::anchor_timing::prior, hadw::anchor_timing::posterior})
    for (const bool update : {true, false}) {
      INFO("posterior timing: " << (timing == hadw::anchor_timing::posterior)
                                << ", update_anchor: " << update);
      hadw::difficulty_anchor<TestType> anchor;
      hadw::reweight_options o;
      o.timing = timing;
      o.update_anchor = update;
      const auto reweight = [&] {
        hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv));
        (void)hadw::reweight(hadw::grouped(std::span<float>(adv), layout),
                             hadw::grouped(std::span<const float>(r), layout), anchor, o);
      };
      const auto fused = [&] {
        (void)hadw::estimate_and_reweight(hadw::grpo{}, layout, std::span<const float>(r),
                                          std::span<float>(adv), anchor, o);
        (void)hadw::estimate_reweight_broadcast(
            hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv), anchor,
            std::span<const std::uint8_t>(tmask), 3, std::span<float>(tok), o);
      };
      anchor.observe(0.5);  // the first observation reserves the belief's window
      // More steps than the window (10) holds: the window fills, then slides.
      CHECK(allocations_in([&] {
              for (int step = 0; step < 12; ++step) reweight();
            }) == 0);
      CHECK(allocations_in([&] {
              for (int step = 0; step < 12; ++step) fused();
            }) == 0);
    }
}

TEST_CASE("estimate_multi (GDPO) with a warm workspace and remax allocate nothing",
          "[no_alloc][multi_reward]") {
  const auto layout = hadw::group_layout::uniform(4, 4);
  const std::vector<double> r{1, 0.5, 0, 0.5, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0,
                              1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1};  // 16 x 2
  const std::vector<double> w{1.0, 0.5};
  const std::vector<std::int64_t> lengths(16, 3);
  std::vector<double> adv(16), b(16, 0.5), tok(48, 0.25), tadv(48), ret(48);
  const std::vector<std::uint8_t> tmask(48, 1);
  hadw::multi_reward_workspace ws(16);
  const hadw::estimate_options opt{.lengths = lengths};
  CHECK(allocations_in([&] {
          for (int step = 0; step < 3; ++step) {
            hadw::estimate_multi(hadw::compat::verl::gdpo, layout, std::span<const double>(r), 2,
                                 std::span<const double>(w), std::span<double>(adv), ws, opt);
            hadw::estimate_multi(hadw::compat::trl::gdpo, layout, std::span<const double>(r), 2,
                                 std::span<const double>(w), std::span<double>(adv), ws);
            hadw::remax(std::span<const double>(adv), std::span<const double>(b),
                        std::span<double>(adv));
            hadw::remax_tokens(std::span<const double>(tok), std::span<const std::uint8_t>(tmask),
                               3, std::span<const double>(b), std::span<double>(tadv),
                               std::span<double>(ret));
          }
        }) == 0);
}
