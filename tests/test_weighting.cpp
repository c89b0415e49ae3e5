// Eq. 13-16 against values computed by hand.
#include <hadw/weighting/phi.hpp>

#include <catch2/catch.hpp>

#include <cmath>

TEST_CASE("Phi follows the sign structure of eq. 14", "[weighting]") {
  const double lambda = 1.3;
  // Hard prompt (p̂ = 0.2 below the belief 0.6): correct amplified, wrong damped.
  CHECK(hadw::phi(+1.0, hadw::history_difficulty(0.2, 0.6), lambda) ==
        Approx(1.3 * std::exp(0.4)));
  CHECK(hadw::phi(-1.0, hadw::history_difficulty(0.2, 0.6), lambda) ==
        Approx(1.3 * std::exp(-0.4)));
  // Easy prompt (p̂ = 0.9 above 0.6): the reverse.
  CHECK(hadw::phi(+0.5, hadw::history_difficulty(0.9, 0.6), lambda) ==
        Approx(1.3 * std::exp(-0.3)));
  CHECK(hadw::phi(-0.5, hadw::history_difficulty(0.9, 0.6), lambda) ==
        Approx(1.3 * std::exp(0.3)));
  // On level, or a zero advantage: exactly lambda.
  CHECK(hadw::phi(2.0, hadw::history_difficulty(0.6, 0.6), lambda) == lambda);
  CHECK(hadw::phi(0.0, -0.5, lambda) == lambda);
}

TEST_CASE("direction, magnitude and sign", "[weighting]") {
  CHECK(hadw::sign(-3.0) == -1.0);
  CHECK(hadw::sign(0.0) == 0.0);
  CHECK(hadw::direction(1.0, -0.1) == 1.0);
  CHECK(hadw::direction(-1.0, -0.1) == -1.0);
  CHECK(hadw::direction(1.0, 0.1) == -1.0);
  CHECK(hadw::magnitude(-0.25) == 0.25);
}

TEST_CASE("reward_range maps onto [0, 1] and is validated", "[weighting][errors]") {
  const hadw::reward_range r{.low = -1.0, .high = 1.0};
  CHECK(r.normalise(-1.0) == 0.0);
  CHECK(r.normalise(0.0) == 0.5);
  CHECK(r.normalise(1.0) == 1.0);
  CHECK_THROWS_WITH((hadw::reward_range{.low = 1.0, .high = 1.0}.validate()),
                    Catch::Contains("reward_range"));
  CHECK_THROWS_AS((hadw::reward_range{.low = 0.0, .high = NAN}.validate()), hadw::error);
}
