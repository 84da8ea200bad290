import re

import quartermaster


def test_the_built_module_imports_and_reports_its_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", quartermaster.__version__)
