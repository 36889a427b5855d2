#include "gallery/people.h"

#include <algorithm>

#include "core/error.h"
#include "core/file.h"
#include "core/suggest.h"

namespace facepipe::gallery {

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, after_quote = false;
  int line = 1, quote_line = 0;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    after_quote = false;
  };
  auto end_row = [&] {
    end_field();
    rows.push_back(std::move(row));
    row.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
        after_quote = true;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
      ++line;
    } else if (after_quote) {
      throw Error(ErrorKind::kInvalidInput, "line " + std::to_string(line) +
                                                ": text after a closing quote; write a quote inside a quoted "
                                                "field as \"\"");
    } else if (c == '"' && field.empty()) {
      quoted = true;
      quote_line = line;
    } else {
      field += c;
    }
  }
  if (quoted)
    throw Error(ErrorKind::kInvalidInput,
                "line " + std::to_string(quote_line) + ": a quoted field is never closed; end it with \"");
  if (!field.empty() || !row.empty() || after_quote) end_row();
  return rows;
}

nlohmann::json record_value(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_number() ? parsed : nlohmann::json(text);
}

std::vector<nlohmann::json> read_people_csv(const std::filesystem::path& csv) {
  const std::string where = "'" + csv.string() + "'";
  std::vector<std::vector<std::string>> rows;
  try {
    rows = parse_csv(read_file(csv, "people CSV"));
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidInput) throw;
    throw Error(ErrorKind::kInvalidInput, csv.string() + ": " + e.what());
  }
  auto blank = [](const std::vector<std::string>& r) {
    return std::all_of(r.begin(), r.end(), [](const std::string& f) { return f.empty(); });
  };
  size_t first = 0;
  while (first < rows.size() && blank(rows[first])) ++first;
  if (first == rows.size())
    throw Error(ErrorKind::kInvalidInput,
                where + " is empty; give a header such as name,major,year and a row a person");
  const auto& header = rows[first];
  const auto name_col = std::find(header.begin(), header.end(), "name");
  if (name_col == header.end())
    throw Error(ErrorKind::kInvalidInput,
                where + " needs a 'name' column in its header (e.g. name,major,year)");
  const size_t name_at = static_cast<size_t>(name_col - header.begin());
  std::vector<nlohmann::json> out;
  for (size_t r = first + 1; r < rows.size(); ++r) {
    const auto& cells = rows[r];
    if (blank(cells)) continue;
    const std::string at = csv.string() + ": row " + std::to_string(r + 1);
    if (cells.size() != header.size())
      throw Error(ErrorKind::kInvalidInput, at + ": " + std::to_string(cells.size()) + " cells for " +
                                                std::to_string(header.size()) +
                                                " columns; quote cells that hold a comma (\"Smith, Jo\")");
    if (cells[name_at].empty()) throw Error(ErrorKind::kInvalidInput, at + ": the name is empty");
    nlohmann::json record = nlohmann::json::object();
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i].empty()) continue;
      record[header[i]] = i == name_at ? nlohmann::json(cells[i]) : record_value(cells[i]);
    }
    out.push_back(std::move(record));
  }
  return out;
}

nlohmann::json to_dynamodb_item(const nlohmann::json& record) {
  nlohmann::json item = nlohmann::json::object();
  for (const auto& [key, value] : record.items()) {
    if (value.is_number())
      item[key] = {{"N", value.dump()}};
    else if (value.is_boolean())
      item[key] = {{"BOOL", value.get<bool>()}};
    else if (value.is_null())
      item[key] = {{"NULL", true}};
    else if (value.is_string())
      item[key] = {{"S", value.get<std::string>()}};
    else
      item[key] = {{"S", value.dump()}};
  }
  return item;
}

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
std::vector<std::string> names_of(const Gallery& gallery) {
  std::vector<std::string> names;
  for (const auto& p : gallery.people()) names.push_back(p.name);
  return names;
}
}  // namespace

std::string resolve_person(const Gallery& gallery, const std::string& name) {
  const auto names = names_of(gallery);
  if (std::find(names.begin(), names.end(), name) != names.end()) return name;
  std::vector<std::string> same_case;
  for (const auto& n : names)
    if (lower(n) == lower(name)) same_case.push_back(n);
  if (same_case.size() == 1) return same_case[0];
  throw Error(ErrorKind::kNotFound, "no person '" + name + "' in the gallery" + did_you_mean(name, names) +
                                        "; `facepipe people list --gallery G` lists them");
}

std::vector<std::string> unknown_people(const Gallery& gallery, const std::vector<std::string>& names) {
  const auto known = names_of(gallery);
  std::vector<std::string> out;
  for (const auto& n : names)
    if (std::find(known.begin(), known.end(), n) == known.end()) out.push_back(n);
  return out;
}

}  // namespace facepipe::gallery
