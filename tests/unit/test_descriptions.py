"""Description cleaning and name masking on the real PUG-View Record Descriptions."""

from __future__ import annotations

import pytest

from etl.normalize.descriptions import DescriptionPolicy, clean_description, strip_markup
from etl.parse.pubchem import iter_pubchem_records
from etl.quality.rejects import Rejected

ANY_LENGTH = DescriptionPolicy(min_words=0)


def descriptions(shared_data, relative: str) -> dict[str, dict]:
    """The record's descriptions by source name (each source describes a record once here)."""
    path = shared_data / relative
    with path.open("rb") as stream:
        records = [r for r in iter_pubchem_records(stream, path.name, "pug_view_record") if r["kind"] == "description"]
    return {r["source_name"]: r for r in records}


def cleaned(record: dict, policy: DescriptionPolicy | None = None) -> str:
    return clean_description(record["text"], record["names"], policy)


# ------------------------------------------------------------------ real descriptions


def test_benzene(shared_data):
    by_source = descriptions(shared_data, "pubchem/pug_view/benzene.json")
    assert cleaned(by_source["CAMEO Chemicals"]) == (
        "This molecule appears as a clear colorless liquid with a petroleum-like odor. Flash point less "
        "than 0 °F. Less dense than water and slightly soluble in water. Hence floats on water. Vapors are "
        "heavier than air.")
    chebi = cleaned(by_source["ChEBI"])
    assert chebi.startswith("This molecule is a six-carbon aromatic annulene in which each carbon atom")
    assert "coal distillation, it is used as an industrial solvent. The molecule is a carcinogen that" in chebi
    # "benzenes" (a class) is another word: untouched
    assert chebi.endswith("It is an aromatic annulene, a volatile organic compound and a member of benzenes.")
    epa = cleaned(by_source["EPA Air Toxics"])
    assert "Acute (short-term) inhalation exposure of humans to the molecule may cause drowsiness" in epa
    assert epa.endswith("EPA has classified the molecule as known human carcinogen for all routes of exposure.")
    mesh = cleaned(by_source["Medical Subject Headings (MeSH)"])
    # "etc." ends the sentence here and the writer capitalized the name: a sentence start
    assert mesh == (
        "Toxic, volatile, flammable liquid hydrocarbon byproduct of coal distillation. It is used as an "
        "industrial solvent in paints, varnishes, lacquer thinners, gasoline, etc. This molecule causes "
        "central nervous system damage acutely and bone marrow damage chronically and is carcinogenic. It "
        "was formerly used as parasiticide.")


def test_benzene_t3db_citation_code_goes(shared_data):
    t3db = cleaned(descriptions(shared_data, "pubchem/pug_view/benzene.json")["Toxin and Toxin Target Database (T3DB)"])
    assert "(A7669)" not in t3db
    assert "(Displasia is a pre-neoplastic or pre-cancerous change). It is used as an industrial solvent" in t3db


def test_ethylene_glycol(shared_data):
    by_source = descriptions(shared_data, "pubchem/pug_view/ethyleneglycol.json")
    assert cleaned(by_source["ChEBI"]) == (
        "This molecule is a 1,2-glycol compound produced via reaction of ethylene oxide with water. It has a "
        "role as a metabolite, a toxin, a solvent and a mouse metabolite. It is a glycol and an ethanediol.")
    # the depositor's longer name "Ethylene glycol (ingested)" wins over "Ethylene Glycol"
    assert cleaned(by_source["California Office of Environmental Health Hazard Assessment (OEHHA)"]) == (
        "This molecule can cause developmental toxicity according to The National Toxicology Program.")
    # "monoethylene glycol" is a longer word: untouched; the T3DB code "(L1023)" goes
    assert cleaned(by_source["Toxin and Toxin Target Database (T3DB)"]) == (
        "This molecule (monoethylene glycol (MEG), IUPAC name: ethane-1,2-diol) is an alcohol with two -OH "
        "groups (a diol), a chemical compound widely used as an automotive antifreeze. The molecule is "
        "toxic, and its accidental ingestion should be considered a medical emergency.")
    # Open Targets names the compound MACROGOL
    assert cleaned(by_source["Open Targets"]).startswith("This molecule is a small molecule drug with")
    mesh = cleaned(by_source["Medical Subject Headings (MeSH)"])
    assert "This molecule is the most important glycol commercially available" in mesh


def test_bromopentane(shared_data):
    [lotus] = descriptions(shared_data, "pubchem/pug_view/bromopentane.json").values()
    assert cleaned(lotus) == "This molecule has been reported in Fucus vesiculosus with data available."


def test_triethylamine(shared_data):
    by_source = descriptions(shared_data, "pubchem/pug_view/triethylamine.json")
    assert cleaned(by_source["ChEBI"]) == (
        "This molecule is a tertiary amine that is ammonia in which each hydrogen atom is substituted by an "
        "ethyl group.")
    assert cleaned(by_source["CAMEO Chemicals"]).startswith(
        "This molecule appears as a clear colorless liquid with a strong ammonia to fish-like odor.")
    epa = cleaned(by_source["EPA Air Toxics"])
    assert "triethylamine" not in epa.lower()
    assert epa.endswith("EPA has not classified the molecule with respect to potential carcinogenicity.")


def test_cid4_1_amino_2_propanol(shared_data):
    by_source = descriptions(shared_data, "pubchem/cid4/COMPOUND_CID_4.json")
    # CAMEO's own name for the compound, MONOISOPROPANOLAMINE
    assert cleaned(by_source["CAMEO Chemicals"]).startswith(
        "This molecule appears as a colorless liquid with a slight ammonia-like odor. Less dense than water")
    # ChEBI's lower-case "1-aminopropan-2-ol" at the start; "propan-2-ol" inside the text is another name
    assert cleaned(by_source["ChEBI"]) == (
        "This molecule is any amino alcohol that is propan-2-ol substituted by an amino group at position 1. "
        "It has a role as an Escherichia coli metabolite. It is an amino alcohol and a secondary alcohol.")
    # CIR's name "Isopropanolamine", never inside Diisopropanolamine / Triisopropanolamine / -amines
    assert cleaned(by_source["Cosmetic Ingredient Review (CIR)"]).startswith(
        "The Panel concludes that Diisopropanolamine, Triisopropanolamine, this molecule, and Mixed "
        "Isopropanolamines are safe as cosmetic ingredients")
    assert cleaned(by_source["E. coli Metabolome Database (ECMDB)"]) == (
        "This molecule is a metabolite found in or produced by Escherichia coli (strain K12, MG1655).")
    with pytest.raises(Rejected) as raised:  # MeSH: "possible industrial pollutant; structure"
        cleaned(by_source["Medical Subject Headings (MeSH)"])
    assert raised.value.reason == "description_too_short"


def test_chebi20_texts_are_already_masked_and_stay_unchanged(shared_data):
    path = shared_data / "pubchem/chebi20_test.tsv"
    with path.open("rb") as stream:
        texts = [r["text"] for r, _ in zip(
            (r for r in iter_pubchem_records(stream, path.name, "chebi20_tsv") if r["kind"] == "description"),
            range(200))]
    assert all(clean_description(text, []) == " ".join(text.split()) for text in texts)


# ------------------------------------------------------------------ boundaries


@pytest.mark.parametrize("text, names, expected", [
    ("Benzene gives benzenesulfonic acid, hexachlorobenzene and 1,3-benzenediol, not benzene-based ones.",
     ["benzene"],
     "This molecule gives benzenesulfonic acid, hexachlorobenzene and 1,3-benzenediol, not benzene-based ones."),
    ("Ethylene glycol is not polyethylene glycol; ethylene glycol is smaller.",
     ["ethylene glycol"],
     "This molecule is not polyethylene glycol; the molecule is smaller."),
    ("1,2-Dichloro(1-methylethyl)benzene is x; 1,2-dichloro(1-methylethyl)benzenes are not.",
     ["1,2-dichloro(1-methylethyl)benzene"],
     "This molecule is x; 1,2-dichloro(1-methylethyl)benzenes are not."),
    ("Triethylamine hydrochloride differs from triethylamine, and bis(triethylamine) too.",
     ["triethylamine"],
     "Triethylamine hydrochloride differs from this molecule, and bis(triethylamine) too."),
    ("The benzene ring of benzene (benzene) and the benzene's odour.",
     ["benzene"],
     "The benzene ring of this molecule (the molecule) and the molecule's odour."),
    ("Solvents, e.g. toluene, are used. Toluene is one.",
     ["toluene"],
     "Solvents, e.g. this molecule, are used. The molecule is one."),
    ("Ethylene\nGlycol is sweet.", ["ethylene glycol"], "This molecule is sweet."),
    ("Cobalamin (B12) is a vitamin.", ["cobalamin", "B"], "This molecule (B12) is a vitamin."),
])
def test_masking_boundaries(text, names, expected):
    assert clean_description(text, names, ANY_LENGTH) == expected


def test_longest_name_wins_and_metacharacters_are_literal():
    names = ["ethylene glycol", "ethylene glycol (ingested)", "glycol.*"]
    assert clean_description("Ethylene glycol (ingested) is toxic; glycolxx stays.", names, ANY_LENGTH) == (
        "This molecule is toxic; glycolxx stays.")


def test_markup_and_entities_are_stripped():
    assert strip_markup("H<sub>2</sub>O &amp; CO<sub>2</sub><br/>end <i>in vivo</i>") == "H2O & CO2 end in vivo"
    assert clean_description("<p>Benzene&nbsp;is   a   solvent.</p>", ["benzene"], ANY_LENGTH) == (
        "This molecule is a solvent.")


def test_masking_can_be_switched_off_and_phrases_configured():
    text = "Benzene is a solvent. Benzene burns."
    assert clean_description(text, ["benzene"], DescriptionPolicy(mask_names=False)) == text
    policy = DescriptionPolicy(first_mention="The molecule", later_mention="It")
    assert clean_description(text, ["benzene"], policy) == "The molecule is a solvent. It burns."


def test_word_bounds():
    with pytest.raises(Rejected) as raised:
        clean_description("A solvent.", [], DescriptionPolicy())
    assert raised.value.reason == "description_too_short"
    with pytest.raises(Rejected) as raised:
        clean_description("word " * 20, [], DescriptionPolicy(max_words=10))
    assert raised.value.reason == "description_too_long"
    assert clean_description("one two three four five", [], DescriptionPolicy()) == "one two three four five"
