// Tokenizer and padding against results worked out by hand from Keras 2's Tokenizer and
// pad_sequences (keras-preprocessing), case by case.
#include "runtime/tokenizer.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "support/error.h"
#include "support/utf8.h"

namespace dlc {
namespace {

using Ids = std::vector<int32_t>;
using Words = std::vector<std::string>;

Tokenizer fittedOnCatAndDog(TokenizerConfig config = {}) {
  Tokenizer tokenizer(std::move(config));
  tokenizer.fitOnTexts({"The cat sat on the mat.", "The dog ate my homework!"});
  return tokenizer;
}

TEST(TokenizerTest, RanksWordsByCountLikeKerasWordIndex) {
  Tokenizer tokenizer = fittedOnCatAndDog();

  // "the" occurs 3 times; every other word once, so they keep their first-appearance order.
  EXPECT_EQ(tokenizer.vocabulary(),
            (Words{"the", "cat", "sat", "on", "mat", "dog", "ate", "my", "homework"}));
  EXPECT_EQ(tokenizer.textToSequence("The cat ate my homework"), (Ids{1, 2, 7, 8, 9}));
}

TEST(TokenizerTest, TiedCountsKeepFirstAppearanceOrder) {
  Tokenizer tokenizer;
  tokenizer.fitOnTexts({"b a c", "c a d"});

  // Counts: b 1, a 2, c 2, d 1. A stable descending sort gives a, c (tied at 2), then b, d.
  EXPECT_EQ(tokenizer.vocabulary(), (Words{"a", "c", "b", "d"}));
}

TEST(TokenizerTest, CountsAccumulateOverSeveralFits) {
  Tokenizer tokenizer;
  tokenizer.fitOnTexts({"x y"});
  EXPECT_EQ(tokenizer.vocabulary(), (Words{"x", "y"}));

  tokenizer.fitOnTexts({"y z"});
  EXPECT_EQ(tokenizer.vocabulary(), (Words{"y", "x", "z"}));
}

TEST(TokenizerTest, NumWordsKeepsOnlyIdsBelowIt) {
  Tokenizer tokenizer = fittedOnCatAndDog({.numWords = 3});

  // The vocabulary is kept whole, as Keras's word_index is; only sequences are cut.
  EXPECT_EQ(tokenizer.vocabulary().size(), 9u);
  EXPECT_EQ(tokenizer.textToSequence("the cat sat on the mat"), (Ids{1, 2, 1}));
}

TEST(TokenizerTest, OovTokenComesFirstAndReplacesUnknownWords) {
  Tokenizer tokenizer = fittedOnCatAndDog({.oovToken = "<OOV>"});

  EXPECT_EQ(tokenizer.vocabulary().front(), "<OOV>");
  EXPECT_EQ(tokenizer.vocabulary().size(), 10u);
  EXPECT_EQ(tokenizer.textToSequence("the zebra sat"), (Ids{2, 1, 4}));
}

TEST(TokenizerTest, OovTokenAlsoReplacesWordsBeyondNumWords) {
  Tokenizer tokenizer = fittedOnCatAndDog({.numWords = 3, .oovToken = "<OOV>"});

  // Ids: <OOV> 1, the 2, cat 3, sat 4 ... so only 1 and 2 stay below num_words.
  EXPECT_EQ(tokenizer.textToSequence("the cat sat zebra"), (Ids{2, 1, 1, 1}));
}

TEST(TokenizerTest, OovTokenThatIsAlsoAWordTakesItsLaterId) {
  Tokenizer tokenizer({.oovToken = "unk"});
  tokenizer.fitOnTexts({"a unk a"});

  // Keras's dict(zip(["unk", "a", "unk"], [1, 2, 3])) maps unk to 3, and unknown words use it.
  EXPECT_EQ(tokenizer.vocabulary(), (Words{"unk", "a", "unk"}));
  EXPECT_EQ(tokenizer.textToSequence("zebra a unk"), (Ids{3, 2, 3}));
}

TEST(TokenizerTest, UnknownWordsAreDroppedWithoutOovToken) {
  Tokenizer tokenizer = fittedOnCatAndDog();
  EXPECT_EQ(tokenizer.textToSequence("zebra the unicorn mat"), (Ids{1, 5}));
  EXPECT_TRUE(tokenizer.textToSequence("").empty());
}

TEST(TokenizerTest, FiltersPunctuationAndWhitespaceLikeKeras) {
  Tokenizer tokenizer;

  // The apostrophe is not among Keras's filters; tab and newline are; runs of separators
  // leave empty strings that are dropped.
  EXPECT_EQ(tokenizer.textToWordSequence("Hello, world!  It's (really) fine...\tYes\nno_way"),
            (Words{"hello", "world", "it's", "really", "fine", "yes", "no", "way"}));
  EXPECT_EQ(tokenizer.textToWordSequence("e-mail a/b c.d {x}~[y]"),
            (Words{"e", "mail", "a", "b", "c", "d", "x", "y"}));
  EXPECT_TRUE(tokenizer.textToWordSequence(" ?!... ").empty());
}

TEST(TokenizerTest, KeepsCaseWhenLowerIsOff) {
  Tokenizer tokenizer({.lower = false});
  tokenizer.fitOnTexts({"The the THE the"});

  EXPECT_EQ(tokenizer.vocabulary(), (Words{"the", "The", "THE"}));
  EXPECT_EQ(tokenizer.textToSequence("THE The"), (Ids{3, 2}));
}

TEST(TokenizerTest, LowercasesBeyondAscii) {
  Tokenizer tokenizer;
  EXPECT_EQ(tokenizer.textToWordSequence("ÉCOLE Straße ΚΑΛΗΜΈΡΑ ПРИВЕТ"),
            (Words{"école", "straße", "καλημέρα", "привет"}));

  // Python lowercases the Turkish dotted capital I to two code points: 'i' and U+0307.
  EXPECT_EQ(tokenizer.textToWordSequence("İSTANBUL"), (Words{"i\u0307stanbul"}));
}

TEST(TokenizerTest, ReplacesBytesThatAreNotUtf8AndFitsAVocabularyThatIs) {
  Tokenizer tokenizer;

  // A stray byte becomes U+FFFD; the letters around it are still lowercased. Octal escapes,
  // because a hex escape would swallow the letters after it.
  EXPECT_EQ(tokenizer.textToWordSequence("ABC\377DEF \303"),
            (Words{"abc\uFFFDdef", "\uFFFD"}));

  // The model format stores the vocabulary, and its strings must be UTF-8.
  tokenizer.fitOnTexts({"caf\303 \355\240\200 ok"});
  for (const std::string& word : tokenizer.vocabulary())
    EXPECT_FALSE(firstInvalidUtf8(word).has_value()) << word;
  EXPECT_EQ(tokenizer.textToSequence("CAF\303"), (Ids{1}));
}

TEST(TokenizerTest, UsesCustomFiltersAndSplit) {
  Tokenizer tokenizer({.filters = "«»", .split = "|"});
  EXPECT_EQ(tokenizer.textToWordSequence("«Hi there»|x||y"), (Words{"hi there", "x", "y"}));

  Tokenizer multiCharacterSplit({.filters = "", .split = "::"});
  EXPECT_EQ(multiCharacterSplit.textToWordSequence("a::b:::c::::d"), (Words{"a", "b", ":c", "d"}));
}

TEST(TokenizerTest, RejectsAnEmptySplit) { EXPECT_THROW(Tokenizer({.split = ""}), Error); }

TEST(TokenizerTest, FromVocabularyGivesTheSameIds) {
  TokenizerConfig config{.numWords = 6, .oovToken = "<OOV>"};
  Tokenizer fitted = fittedOnCatAndDog(config);
  Tokenizer restored = Tokenizer::fromVocabulary(config, fitted.vocabulary());

  const char* text = "The dog sat on a mat, my cat ate homework.";
  EXPECT_EQ(restored.vocabulary(), fitted.vocabulary());
  EXPECT_EQ(restored.textToSequence(text), fitted.textToSequence(text));
  EXPECT_EQ(restored.textToSequence(text), (Ids{2, 1, 4, 5, 1, 1, 1, 3, 1, 1}));
}

TEST(TokenizerTest, FromVocabularyNeedsTheOovToken) {
  EXPECT_THROW(Tokenizer::fromVocabulary({.oovToken = "<OOV>"}, {"the", "cat"}), Error);
}

TEST(TokenizerTest, CannotFitATokenizerRebuiltFromAVocabulary) {
  Tokenizer restored = Tokenizer::fromVocabulary({}, {"the", "cat"});
  EXPECT_THROW(restored.fitOnTexts({"the dog"}), std::logic_error);
}

TEST(PadSequenceTest, PadsBeforeByDefault) {
  PadConfig config{.maxLength = 5, .value = 50001};
  EXPECT_EQ(padSequence({1, 2, 3}, config), (Ids{50001, 50001, 1, 2, 3}));
}

TEST(PadSequenceTest, PadsAfterWhenAsked) {
  PadConfig config{.maxLength = 5, .padding = PadSide::Post, .value = 50001};
  EXPECT_EQ(padSequence({1, 2, 3}, config), (Ids{1, 2, 3, 50001, 50001}));
}

TEST(PadSequenceTest, PreTruncationKeepsTheEnd) {
  PadConfig config{.maxLength = 4, .padding = PadSide::Post};
  EXPECT_EQ(padSequence({1, 2, 3, 4, 5, 6, 7}, config), (Ids{4, 5, 6, 7}));
}

TEST(PadSequenceTest, PostTruncationKeepsTheBeginning) {
  PadConfig config{.maxLength = 4, .truncating = PadSide::Post};
  EXPECT_EQ(padSequence({1, 2, 3, 4, 5, 6, 7}, config), (Ids{1, 2, 3, 4}));
}

TEST(PadSequenceTest, HandlesEmptyExactAndZeroLengths) {
  EXPECT_EQ(padSequence({}, {.maxLength = 3, .value = 50001}), (Ids{50001, 50001, 50001}));
  EXPECT_EQ(padSequence({7, 8, 9}, {.maxLength = 3, .value = 50001}), (Ids{7, 8, 9}));
  EXPECT_TRUE(padSequence({7, 8, 9}, {.maxLength = 0}).empty());
  EXPECT_THROW(padSequence({1}, {.maxLength = -1}), Error);
}

}  // namespace
}  // namespace dlc
