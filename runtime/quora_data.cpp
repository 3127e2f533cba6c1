#include "runtime/quora_data.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

#include "support/error.h"

namespace dlc {
namespace {

constexpr std::string_view kUtf8ByteOrderMark = "\xEF\xBB\xBF";

/// The whole file, decompressed if it is gzip (gzread passes other files through unchanged).
std::string readPossiblyCompressedFile(const std::string& path) {
  errno = 0;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
  if (file == nullptr) {
    fail("{}: cannot open: {}", path, errno != 0 ? std::strerror(errno) : "out of memory");
  }
  gzbuffer(file.get(), 1 << 18);

  auto readError = [&]() -> std::string {
    int errorNumber = Z_OK;
    std::string message = gzerror(file.get(), &errorNumber);
    if (errorNumber == Z_ERRNO) return std::strerror(errno);
    // zlib starts its message with the path, which ours gives already.
    if (message.starts_with(path + ": ")) message.erase(0, path.size() + 2);
    return message;
  };

  std::string contents;
  constexpr size_t kChunkSize = 1 << 20;
  while (true) {
    size_t oldSize = contents.size();
    contents.resize(oldSize + kChunkSize);
    int bytesRead = gzread(file.get(), contents.data() + oldSize, kChunkSize);
    if (bytesRead < 0) fail("{}: cannot read: {}", path, readError());
    contents.resize(oldSize + static_cast<size_t>(bytesRead));
    if (bytesRead == 0) break;
  }

  // At the end of input zlib reports Z_BUF_ERROR if a gzip stream stopped in the middle.
  int errorNumber = Z_OK;
  gzerror(file.get(), &errorNumber);
  if (errorNumber == Z_BUF_ERROR) fail("{}: cannot read: the gzip data is truncated", path);

  if (contents.starts_with(kUtf8ByteOrderMark)) contents.erase(0, kUtf8ByteOrderMark.size());
  return contents;
}

bool isAsciiSpace(char character) {
  return character == ' ' || (character >= '\t' && character <= '\r');
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && isAsciiSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isAsciiSpace(text.back())) text.remove_suffix(1);
  return text;
}

/// Reads rows of delimiter-separated fields, as the three Quora shapes write them. A field that
/// starts with '"' is a quoted field (with "" for a literal quote, possibly spanning lines) only if
/// its closing quote is followed by the delimiter, a line end or the end of the text; otherwise
/// the quote is a literal character, as in this project's never-quoted TSV. So a question there
/// that is wholly in quotes loses them; the tokenizer drops quotes anyway.
class DelimitedTextReader {
 public:
  DelimitedTextReader(std::string_view text, char delimiter, const std::string& path)
      : text_(text), delimiter_(delimiter), path_(path) {}

  /// From now on, a row that does not have this many fields is an Error naming its line.
  void expectFieldCount(size_t count) {
    expectedFieldCount_ = count;
    quotesStayOnTheirLine_ = everyLineHasFieldCount(count);
  }

  /// The next row that is not a blank line; false at the end of the text.
  bool nextRow(std::vector<std::string>& fields) {
    skipBlankLines();
    if (position_ >= text_.size()) return false;
    rowLine_ = line_;

    size_t unterminatedQuote = std::string_view::npos;
    size_t rowEnd = readRow(position_, fields, unterminatedQuote);
    if (unterminatedQuote != std::string_view::npos) {
      fail("{}:{}: a quoted field starting on this line is never closed (expected a closing '\"')",
           path_, lineAt(unterminatedQuote));
    }
    if (expectedFieldCount_ != 0 && fields.size() != expectedFieldCount_) {
      fail("{}:{}: expected {} fields like the header, found {}", path_, rowLine_,
           expectedFieldCount_, fields.size());
    }

    line_ += std::count(text_.begin() + position_, text_.begin() + rowEnd, '\n');
    position_ = rowEnd;
    return true;
  }

  /// The line on which the row last returned by nextRow starts (1-based).
  int64_t rowLine() const { return rowLine_; }

 private:
  void skipBlankLines() {
    while (position_ < text_.size()) {
      size_t lineBreak = position_;
      if (text_[lineBreak] == '\r' && lineBreak + 1 < text_.size()) ++lineBreak;
      if (text_[lineBreak] != '\n') return;
      position_ = lineBreak + 1;
      ++line_;
    }
  }

  /// Whether every line from here on that is not blank holds exactly `count` fields when read
  /// without quoting. Such a file (like this project's TSV) has no quoted field spanning lines,
  /// so a leading quote not closed on its own line is literal and must not swallow later rows.
  bool everyLineHasFieldCount(size_t count) const {
    size_t lineStart = position_;
    while (lineStart < text_.size()) {
      size_t lineEnd = text_.find('\n', lineStart);
      if (lineEnd == std::string_view::npos) lineEnd = text_.size();
      std::string_view line = text_.substr(lineStart, lineEnd - lineStart);
      lineStart = lineEnd + 1;

      if (line.empty() || line == "\r") continue;
      size_t delimiters = std::count(line.begin(), line.end(), delimiter_);
      if (delimiters + 1 != count) return false;
    }
    return true;
  }

  /// Reads the fields of the row starting at `start` into `fields` and returns where the next
  /// row starts. If a quoted field is never closed, sets `unterminatedQuote` to its opening quote.
  size_t readRow(size_t start, std::vector<std::string>& fields, size_t& unterminatedQuote) const {
    fields.clear();
    size_t position = start;
    while (true) {
      std::string& value = fields.emplace_back();
      size_t fieldEnd = std::string_view::npos;
      if (position < text_.size() && text_[position] == '"') {
        bool unterminated = false;
        fieldEnd = readQuotedField(position, value, unterminated);
        if (unterminated) {
          unterminatedQuote = position;
          return text_.size();
        }
      }
      if (fieldEnd == std::string_view::npos) fieldEnd = readLiteralField(position, value);

      if (fieldEnd < text_.size() && text_[fieldEnd] == delimiter_) {
        position = fieldEnd + 1;
        continue;
      }

      // The field ended at a line end (LF or CRLF) or at the end of the text.
      position = fieldEnd;
      if (position < text_.size() && text_[position] == '\r') ++position;
      if (position < text_.size() && text_[position] == '\n') ++position;
      return position;
    }
  }

  /// Reads the quoted field whose opening quote is at `open` into `value` and returns the
  /// position just past its closing quote; npos if the field turns out not to be quoted.
  size_t readQuotedField(size_t open, std::string& value, bool& unterminated) const {
    size_t searchEnd = text_.size();
    if (quotesStayOnTheirLine_) searchEnd = std::min(text_.find('\n', open), text_.size());

    value.clear();
    size_t cursor = open + 1;
    while (true) {
      size_t quote = text_.substr(0, searchEnd).find('"', cursor);
      if (quote == std::string_view::npos) {
        unterminated = !quotesStayOnTheirLine_;
        return std::string_view::npos;
      }
      value.append(text_.substr(cursor, quote - cursor));

      if (quote + 1 < searchEnd && text_[quote + 1] == '"') {
        value += '"';
        cursor = quote + 2;
        continue;
      }
      if (endsField(quote + 1)) return quote + 1;
      return std::string_view::npos;
    }
  }

  /// Reads the field starting at `start` up to the next delimiter or line end, quotes and all,
  /// into `value`, and returns where it ended.
  size_t readLiteralField(size_t start, std::string& value) const {
    const char stops[] = {delimiter_, '\n'};
    size_t end = text_.find_first_of(std::string_view(stops, 2), start);
    if (end == std::string_view::npos) end = text_.size();

    std::string_view field = text_.substr(start, end - start);
    bool atLineEnd = end == text_.size() || text_[end] == '\n';
    if (atLineEnd && field.ends_with('\r')) field.remove_suffix(1);
    value.assign(field);
    return end;
  }

  /// Whether a field may end at `position`: a delimiter, LF, CRLF or the end of the text.
  bool endsField(size_t position) const {
    if (position >= text_.size()) return true;
    char character = text_[position];
    if (character == delimiter_ || character == '\n') return true;
    return character == '\r' && (position + 1 == text_.size() || text_[position + 1] == '\n');
  }

  /// The line number of `position`, which lies in the current row.
  int64_t lineAt(size_t position) const {
    return line_ + std::count(text_.begin() + position_, text_.begin() + position, '\n');
  }

  std::string_view text_;
  char delimiter_;
  const std::string& path_;
  size_t expectedFieldCount_ = 0;
  bool quotesStayOnTheirLine_ = false;
  size_t position_ = 0;
  int64_t line_ = 1;
  int64_t rowLine_ = 0;
};

/// The label 0 or 1 as written in the three shapes; -1 if it is something else.
int parseLabel(std::string_view text) {
  text = trimmed(text);
  if (text == "0" || text == "0.0") return 0;
  if (text == "1" || text == "1.0") return 1;
  return -1;
}

}  // namespace

QuoraDataset readQuoraPairs(const std::string& path) {
  return parseQuoraPairs(readPossiblyCompressedFile(path), path);
}

QuoraDataset parseQuoraPairs(std::string_view text, const std::string& path) {
  // The header line decides the delimiter: Quora's TSV and ours have TABs, Kaggle's CSV has none.
  size_t headerStart = text.find_first_not_of("\r\n");
  std::string_view headerLine;
  if (headerStart != std::string_view::npos) {
    headerLine = text.substr(headerStart, text.find('\n', headerStart) - headerStart);
  }
  char delimiter = headerLine.find('\t') != std::string_view::npos ? '\t' : ',';

  DelimitedTextReader reader(text, delimiter, path);
  std::vector<std::string> fields;
  if (!reader.nextRow(fields)) {
    fail(
        "{}:1: expected a header line with columns question1, question2 and is_duplicate, "
        "found an empty file",
        path);
  }

  // Find the columns by name: the three shapes agree on names, not necessarily on positions.
  auto columnOf = [&](std::string_view name) {
    auto found = std::find_if(fields.begin(), fields.end(),
                              [&](const std::string& field) { return trimmed(field) == name; });
    return found == fields.end() ? std::string_view::npos : size_t(found - fields.begin());
  };
  size_t question1Column = columnOf("question1");
  size_t question2Column = columnOf("question2");
  size_t labelColumn = columnOf("is_duplicate");
  std::string missing;
  if (question1Column == std::string_view::npos) missing += " question1";
  if (question2Column == std::string_view::npos) missing += " question2";
  if (labelColumn == std::string_view::npos) missing += " is_duplicate";
  // No header at all: labelled pairs as `dlc predict --pairs` reads them, a label a line.
  bool headerless = question1Column == std::string_view::npos &&
                    question2Column == std::string_view::npos &&
                    labelColumn == std::string_view::npos && delimiter == '\t' &&
                    fields.size() == 3 && parseLabel(fields[2]) >= 0;
  if (headerless) {
    question1Column = 0, question2Column = 1, labelColumn = 2;
  } else if (!missing.empty()) {
    fail(
        "{}:{}: expected a header with columns question1, question2 and is_duplicate (or, "
        "without one, question1<TAB>question2<TAB>0 or 1 a line), missing:{}",
        path, reader.rowLine(), missing);
  }
  reader.expectFieldCount(fields.size());

  QuoraDataset dataset;
  dataset.pairs.reserve(text.size() / 128);
  auto addRow = [&] {
    std::string& question1 = fields[question1Column];
    std::string& question2 = fields[question2Column];
    if (trimmed(question1).empty() || trimmed(question2).empty()) {
      ++dataset.skippedEmptyQuestion;
      return;
    }

    int label = parseLabel(fields[labelColumn]);
    if (label < 0) {
      ++dataset.skippedBadLabel;
      return;
    }

    dataset.pairs.push_back(
        QuestionPair{std::move(question1), std::move(question2), static_cast<float>(label)});
  };
  if (headerless) addRow();
  while (reader.nextRow(fields)) addRow();
  return dataset;
}

std::vector<std::pair<std::string, std::string>> readPairsToPredict(const std::string& path) {
  return parsePairsToPredict(readPossiblyCompressedFile(path), path);
}

std::vector<std::pair<std::string, std::string>> parsePairsToPredict(std::string_view text,
                                                                     const std::string& path) {
  std::vector<std::pair<std::string, std::string>> pairs;
  int64_t lineNumber = 0;
  size_t lineStart = 0;
  while (lineStart < text.size() && !trimmed(text.substr(lineStart)).empty()) {
    ++lineNumber;
    size_t lineEnd = text.find('\n', lineStart);
    if (lineEnd == std::string_view::npos) lineEnd = text.size();
    std::string_view line = text.substr(lineStart, lineEnd - lineStart);
    lineStart = lineEnd + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);

    // One answer a line: a line that is not a pair is refused rather than skipped or guessed at.
    if (trimmed(line).empty())
      fail("{}:{}: the line is empty: expected question1<TAB>question2", path, lineNumber);
    std::vector<std::string_view> fields;
    for (size_t start = 0;;) {
      size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab - start));
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    if (lineNumber == 1 && trimmed(fields[0]) == "question1" && fields.size() >= 2 &&
        trimmed(fields[1]) == "question2")
      continue;
    bool labelled = fields.size() == 3 && (trimmed(fields[2]) == "0" || trimmed(fields[2]) == "1");
    if (fields.size() == 3 && !labelled)
      fail("{}:{}: the third field is a label, 0 or 1, got \"{}\"", path, lineNumber,
           trimmed(fields[2]));
    if (fields.size() != 2 && !labelled)
      fail(
          "{}:{}: expected question1<TAB>question2 (and perhaps <TAB>0 or 1, a label), found {} "
          "field{}{}",
          path, lineNumber, fields.size(), fields.size() == 1 ? "" : "s",
          fields.size() > 3 ? " (dlc evaluate reads files of labelled pairs)" : "");
    pairs.emplace_back(std::string(fields[0]), std::string(fields[1]));
  }
  return pairs;
}

}  // namespace dlc
