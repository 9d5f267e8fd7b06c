from decimal import Decimal

import pytest

from jobs.generate.mainframe import binary, packed, signed_zoned, text, zoned


def test_text_is_ebcdic_space_padded():
    assert text("OWNER", 8) == bytes([0xD6, 0xE6, 0xD5, 0xC5, 0xD9, 0x40, 0x40, 0x40])


def test_unsigned_zoned_digits_are_f0_to_f9():
    assert zoned(42, 4) == bytes([0xF0, 0xF0, 0xF4, 0xF2])


def test_zoned_refuses_a_value_too_wide():
    with pytest.raises(ValueError, match="does not fit PIC 9"):
        zoned(12345, 4)


def test_overpunched_sign_matches_carddemo_convention():
    # CardDemo's ASCII twin writes +194.00 in S9(10)V99 as 00000001940{ (C0 zone = positive)
    assert signed_zoned(Decimal("194.00"), 10, 2).decode("cp037") == "00000001940{"
    assert signed_zoned(Decimal("-194.05"), 10, 2).decode("cp037") == "00000001940N"


def test_packed_decimal_puts_sign_nibble_last():
    assert packed(Decimal("-194.00"), 11, 2).hex() == "0000000019400d"
    assert packed(Decimal("12.5"), 3, 2).hex() == "01250c"


def test_packed_decimal_refuses_overflow():
    with pytest.raises(ValueError, match="does not fit"):
        packed(Decimal("1000"), 3, 0)


def test_binary_comp_is_big_endian_twos_complement():
    assert binary(-2, 2) == b"\xff\xfe"
    assert binary(258, 2) == b"\x01\x02"
