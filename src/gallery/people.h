// People by name, and their records from CSV (name,major,year,...): the one reader `facepipe people import`
// and scripts/deploy-aws.sh --people (through `facepipe people to-dynamodb`) share, so a record means the
// same on one machine and in DynamoDB.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gallery/gallery.h"

namespace facepipe::gallery {

// RFC 4180 CSV: fields separated by commas, optionally in double quotes (a quoted field may hold commas,
// line breaks and "" for a quote); LF or CRLF line ends; the last line may lack its line end. Written here
// rather than taken from a library: it is 40 lines, and Debian's libcsv would be one more shared library in
// every Lambda image. Error(kInvalidInput) naming the line of an unterminated quote or text after a
// closing quote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text);

// A record field given as text (a CSV cell, KEY=VALUE on the command line): numbers stay numbers,
// anything else is a string.
nlohmann::json record_value(const std::string& text);

// One record a data row of a CSV file whose header names the fields; a 'name' column is required and
// every row needs a name. Blank rows are skipped. Error(kNotFound / kInvalidInput) naming the file, the
// line and the fix.
std::vector<nlohmann::json> read_people_csv(const std::filesystem::path& csv);

// A record as a DynamoDB item: numbers as {"N": "..."}, booleans as {"BOOL": ...}, null as {"NULL": true},
// anything else as {"S": text} (objects and arrays as their JSON text).
nlohmann::json to_dynamodb_item(const nlohmann::json& record);

// The gallery's own spelling of `name`: the exact name, else the one person whose name differs only in
// case. Error(kNotFound) otherwise, suggesting the closest name ("did you mean 'Obama'?").
std::string resolve_person(const Gallery& gallery, const std::string& name);

// The names among `names` that are nobody in the gallery (exact match), in order.
std::vector<std::string> unknown_people(const Gallery& gallery, const std::vector<std::string>& names);

}  // namespace facepipe::gallery
