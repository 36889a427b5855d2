// "Did you mean ...?": the closest of a set of known words to one that was mistyped (a subcommand, a flag,
// a person's name), so an error can name the fix.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace facepipe {

// Edit distance (optimal string alignment: a swap of neighbours counts one), ignoring case.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` when it is close enough to be a likely typo (at most a third of the
// word's letters differ, at least one allowed); nullopt otherwise. Ties go to the first candidate.
std::optional<std::string> closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'X'?)" for the closest candidate, or "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace facepipe
