import pytest

from aecourse.tables import markdown_table


def test_a_table_of_numbers_and_text_renders_as_markdown():
    table = markdown_table(["digit", 1, 2.5], [["a|b", 0.5, None], [3, "x\ny", True]])
    assert table.splitlines() == ["| digit | 1 | 2.5 |", "| --- | --- | --- |",
                                  "| a\\|b | 0.5 | None |", "| 3 | x y | True |"]


def test_a_row_of_the_wrong_length_says_which():
    with pytest.raises(ValueError, match="row 1 has 2 cells but the header has 3 columns"):
        markdown_table(["a", "b", "c"], [[1, 2, 3], [1, 2]])
