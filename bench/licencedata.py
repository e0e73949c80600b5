"""Synthetic licences for benchmarks: rows for bulk import, written as JSON Lines.

Food business licences (食品经营许可证, 11100000000013338W032) held by companies, issued by
the example market regulator. Every holder gets its own unified social credit code with a
correct GB 32100 check character (python-stdnum computes it), so each row passes the
same checks a real migration's rows go through; one row in ``bad_every`` gets a wrong
check character, to keep the error report path warm.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from stdnum.cn import uscc

FOOD_TYPE = "11100000000013338W032"
MARKET = "11110105MB00000009"
_DISTRICTS = ["110101", "110102", "110105", "110106", "110107", "110108", "110109"]
_FORMATS = ["食品销售经营者", "餐饮服务经营者", "单位食堂"]
_STREETS = ["建国路", "朝阳北路", "东三环中路", "酒仙桥路", "望京西路", "花家地街", "三里屯路"]
_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞"]


def credit_code(index: int) -> str:
    """A valid unified social credit code, distinct per index."""
    body = f"91{_DISTRICTS[index % len(_DISTRICTS)]}{index:09d}"
    return body + uscc.calc_check_digit(body)


def row(index: int, rng: random.Random) -> dict[str, object]:
    """One import row."""
    street = rng.choice(_STREETS)
    number = rng.randint(1, 300)
    name = f"北京{street}{index}餐饮管理有限公司"
    return {
        "holder_kind": "credit-code",
        "holder_code": credit_code(index),
        "holder_name": name,
        "issued_at": f"20{rng.randint(19, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "fields": {
            "operator_name": name,
            "legal_representative": rng.choice(_NAMES),
            "address": f"北京市朝阳区{street}{number}号",
            "premises": f"北京市朝阳区{street}{number}号{rng.randint(1, 20)}层",
            "business_format": rng.choice(_FORMATS),
            "business_items": "热食类食品制售；冷食类食品制售；预包装食品销售",
            "complaint_hotline": f"010-{rng.randint(10000000, 99999999)}",
        },
    }


def write_jsonl(path: Path, rows: int, *, seed: int = 36904, bad_every: int = 10_000) -> int:
    """Write ``rows`` lines (streamed, bounded memory); returns the file's size in bytes."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for index in range(rows):
            document = row(index, rng)
            if bad_every and index % bad_every == bad_every - 1:
                code = str(document["holder_code"])
                document["holder_code"] = code[:-1] + ("0" if code[-1] != "0" else "1")
            out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path.stat().st_size
