"""QA templates: a question and the field of the record whose answer it asks for.

Templates are declared in the pipeline config (pipelines/*.yaml); the code only
knows how to render each field's answer (`UNIPROT_ANSWERS`). Answers are rendered
once, into the silver row's `answer_<field>` columns (`render_answers`); the QA
step reads them from there (`generate_qa`). One QA row per record and template
whose field the record has.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from etl.normalize.text import TextPolicy, family_answer, function_answer, location_answer, names_answer

AnswerFn = Callable[[dict, TextPolicy], str | None]

UNIPROT_ANSWERS: dict[str, AnswerFn] = {
    "function": function_answer,
    "names": names_answer,
    "family": family_answer,
    "location": location_answer,
}


class QATemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="which answer this question asks for")
    question: str = Field(min_length=1)


BIOMEDGPT_UNIPROT_TEMPLATES = [
    QATemplate(field="function", question="What is the function of this protein?"),
    QATemplate(field="names", question="What are the official names of this protein?"),
    QATemplate(field="family", question="What is the protein family that this protein belongs to?"),
    QATemplate(field="location", question="What are the subcellular locations of this protein?"),
]


def check_template_fields(templates: list[QATemplate]) -> None:
    unknown = sorted({t.field for t in templates} - set(UNIPROT_ANSWERS))
    if unknown:
        raise ValueError(f"QA templates ask for unknown fields {unknown}; known: {sorted(UNIPROT_ANSWERS)}")


def answer_column(field: str) -> str:
    return f"answer_{field}"


def render_answers(record: dict, policy: TextPolicy) -> dict[str, str | None]:
    """{answer column: the field's cleaned answer, or None} for every field a template may ask about."""
    return {answer_column(field): render(record, policy) for field, render in UNIPROT_ANSWERS.items()}


def generate_qa(record: dict, templates: list[QATemplate]) -> list[dict]:
    """[{field, question, answer}] for each template whose answer the rendered record has."""
    pairs = []
    for template in templates:
        answer = record.get(answer_column(template.field))
        if answer:
            pairs.append({"field": template.field, "question": template.question, "answer": answer})
    return pairs
