from dragoman.data.normalize import match_key, normalize, script_share, unicode_clean, words

AR_VOWELLED = "كَتَبَ"


def test_unicode_clean_nfc_controls_bidi_and_spaces():
    decomposed = "e\u0301"  # e + combining acute -> é
    assert unicode_clean(decomposed) == "\u00e9"
    assert unicode_clean("a\u200fb\u202bc\ufeff") == "abc"          # bidi marks and BOM removed
    assert unicode_clean("a\x00b\x07c") == "a b c"                   # control characters become spaces
    assert unicode_clean("  a \t  b \n\n  c  ") == "a b\nc"


def test_arabic_defaults_are_lossless_except_tatweel():
    ops = {"strip_tatweel": True, "strip_diacritics": False, "unify_alef": False, "unify_ya": False}
    assert normalize("العـــربية", ops) == "العربية"
    assert normalize(AR_VOWELLED, ops) == AR_VOWELLED                # diacritics kept
    assert normalize("أحمد إلى مستشفى", ops) == "أحمد إلى مستشفى"   # hamza forms and alef maqsura kept
    assert normalize("مدرسة", {k: True for k in ops}) == "مدرسة"     # ة is never rewritten to ه


def test_arabic_optional_ops():
    assert normalize(AR_VOWELLED, {"strip_diacritics": True}) == "كتب"
    assert normalize("أإآا", {"unify_alef": True}) == "اااا"
    assert normalize("على", {"unify_ya": True}) == "علي"


def test_tibetan_tsheg_spacing():
    assert normalize("བཀྲ ་ཤིས\u0F0Cབདེ་་ལེགས །", {"tsheg_spacing": True}) == "བཀྲ་ཤིས་བདེ་ལེགས།"


def test_script_share_and_words():
    assert script_share("مرحبا", "arabic") == 1.0
    assert script_share("hello مرحبا", "arabic") == 0.5
    assert script_share("123 !!", "arabic") == 1.0                   # no letters: nothing to judge
    assert words("བཀྲ་ཤིས་བདེ་ལེགས།", "tibetan") == ["བཀྲ", "ཤིས", "བདེ", "ལེགས"]
    assert words("two  words") == ["two", "words"]


def test_match_key_ignores_case_punctuation_diacritics():
    assert match_key("Hello, World!") == match_key("hello world")
    assert match_key(AR_VOWELLED + ".") == match_key("كتب")
