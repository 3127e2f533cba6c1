// Readers for Quora question pairs: the labelled table a model is trained on, and the plain
// "question1<TAB>question2" lines a trained model is asked about.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dlc {

/// Two questions and whether Quora's raters judged them to ask the same thing (1) or not (0).
struct QuestionPair {
  std::string question1;
  std::string question2;
  float label = 0;
};

/// The usable pairs of a file, and how many rows were left out and why.
struct QuoraDataset {
  std::vector<QuestionPair> pairs;
  /// Rows whose question1 or question2 is empty or only whitespace (Kaggle's train.csv has some).
  int64_t skippedEmptyQuestion = 0;
  /// Rows whose is_duplicate is not 0 or 1 (nor 0.0 or 1.0).
  int64_t skippedBadLabel = 0;
};

/// Reads Quora question pairs in any of the shapes below; gzip-compressed files are read
/// transparently (zlib gzopen/gzread).
///  - this project's quora_pairs.tsv: TAB-separated, never quoted;
///  - Quora's quora_duplicate_questions.tsv: TAB-separated, fields with quotes or line breaks
///    in double quotes ("" for a literal quote);
///  - Kaggle's train.csv: comma-separated, every field in double quotes.
/// The header line picks the delimiter (TAB if it has one, else comma) and names the columns
/// question1, question2 and is_duplicate, in any order among others; a file without a header
/// holds question1<TAB>question2<TAB>label a line (as `dlc predict --pairs` reads them). LF and
/// CRLF line ends both work. An Error naming the path and line if the file cannot be read or is
/// not such a table.
QuoraDataset readQuoraPairs(const std::string& path);
/// The same on text already in memory (decompressed, without a byte order mark); `path` names it
/// in errors.
QuoraDataset parseQuoraPairs(std::string_view text, const std::string& path);

/// For prediction: one pair per line, "question1<TAB>question2", perhaps followed by "<TAB>0" or
/// "<TAB>1" (a label, ignored), so that the answers line up with the lines. A first line that
/// starts "question1<TAB>question2" is a header; blank lines at the end are ignored. Any other
/// line (a blank one, a row of Quora's six columns) is an Error naming the path and line.
std::vector<std::pair<std::string, std::string>> readPairsToPredict(const std::string& path);
std::vector<std::pair<std::string, std::string>> parsePairsToPredict(std::string_view text,
                                                                     const std::string& path);

}  // namespace dlc
