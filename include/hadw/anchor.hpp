// The difficulty anchor (paper §3.1): beliefs, difficulty_anchor, and the public state
// writer/reader belief policies save through.
#pragma once

#include <hadw/anchor/anchor.hpp>   // difficulty_anchor: prior, observe, save/load
#include <hadw/anchor/beliefs.hpp>  // kalman_belief, window_mean_belief, fixed_belief
#include <hadw/anchor/state.hpp>    // state_writer, state_reader
