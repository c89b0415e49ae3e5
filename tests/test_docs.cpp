// docs/ and README.md quote code from examples/ (which CI compiles and runs): every quote must match its source
// region exactly, and the relative links of the docs must point at files that exist.
//
// In a Markdown page, a quote is a line `<!-- snippet: examples/<file>#<name> -->` followed by a
// ```cpp fence; in the example, the region is the lines between `// [snippet:<name>]` and
// `// [end:<name>]`, compared after removing their common indentation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path root = HADW_SOURCE_DIR;

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  REQUIRE(in.good());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string dedent(const std::vector<std::string>& lines) {
  std::size_t indent = std::string::npos;
  for (const auto& l : lines)
    if (l.find_first_not_of(' ') != std::string::npos)
      indent = std::min(indent, l.find_first_not_of(' '));
  std::string out;
  for (const auto& l : lines) out += (l.size() >= indent ? l.substr(indent) : std::string()) + "\n";
  return out;
}

/// The region NAME of an example file, dedented; empty when it has no such region.
std::string region(const fs::path& file, const std::string& name) {
  const auto lines = read_lines(file);
  const std::string begin = "// [snippet:" + name + "]", end = "// [end:" + name + "]";
  std::vector<std::string> body;
  bool inside = false, found = false;
  for (const auto& l : lines) {
    const auto trimmed = l.substr(std::min(l.size(), l.find_first_not_of(' ')));
    if (trimmed == begin) {
      inside = found = true;
      continue;
    }
    if (trimmed == end) inside = false;
    if (inside) body.push_back(l);
  }
  return found ? dedent(body) : std::string();
}

struct quote {
  fs::path page;
  std::size_t line;
  std::string file, name, text;
};

std::vector<quote> quotes_in(const fs::path& page) {
  static const std::regex marker(R"(<!-- snippet: ([^#]+)#([A-Za-z0-9_]+) -->)");
  const auto lines = read_lines(page);
  std::vector<quote> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_search(lines[i], m, marker)) continue;
    quote q{page, i + 1, m[1], m[2], {}};
    std::size_t j = i + 1;
    REQUIRE(j < lines.size());
    INFO(page.string() << ":" << j + 1 << ": a ```cpp fence must follow the snippet marker");
    REQUIRE(lines[j] == "```cpp");
    std::vector<std::string> body;
    for (++j; j < lines.size() && lines[j] != "```"; ++j) body.push_back(lines[j]);
    q.text = dedent(body);
    out.push_back(q);
  }
  return out;
}

std::vector<fs::path> pages() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(root / "docs"))
    if (e.path().extension() == ".md") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  out.push_back(root / "README.md");  // its 15-line example is quoted from examples/ too
  return out;
}

}  // namespace

TEST_CASE("Every code quote in docs/ matches its region in examples/", "[docs]") {
  std::size_t count = 0;
  for (const auto& page : pages())
    for (const auto& q : quotes_in(page)) {
      ++count;
      INFO(q.page.filename().string() << ":" << q.line << " quotes " << q.file << "#" << q.name);
      const auto source = region(root / q.file, q.name);
      REQUIRE_FALSE(source.empty());  // the example has the region
      CHECK(q.text == source);
    }
  CHECK(count >= 8);  // api.md and integrating.md quote the trainer examples
}

TEST_CASE("Relative links in docs/ point at files that exist", "[docs]") {
  static const std::regex link(R"(\]\(([^)#:\s]+)(#[^)]*)?\))");
  for (const auto& page : pages()) {
    const auto lines = read_lines(page);
    for (std::size_t i = 0; i < lines.size(); ++i)
      for (std::sregex_iterator it(lines[i].begin(), lines[i].end(), link), end; it != end; ++it) {
        const std::string target = (*it)[1];
        INFO(page.filename().string() << ":" << i + 1 << " links to " << target);
        CHECK(fs::exists(page.parent_path() / target));
      }
  }
}
