"""The pipeline on real complaints (Surabaya, ../shared; skipped when absent): informal text,
Javanese words and typos must not break it, and it must learn from them."""
import warnings

from classifier.model import RoutingModel
from classifier.report import evaluate
from classifier.text import NIK_TOKEN, PHONE_TOKEN, TextNormalizer
from classifier.train import fit_on_frame


def test_upstream_masks_and_slang_on_real_text(real_data):
    normalizer = TextNormalizer()
    masked = real_data[real_data["text"].str.contains(r"\[TELP\]|\[NIK\]", regex=True)]["text"].head(50)
    cleaned = [normalizer.clean(text) for text in masked]
    assert all(PHONE_TOKEN in c or NIK_TOKEN in c for c in cleaned)
    tokens = [t for text in real_data["text"].head(500) for t in normalizer.clean(text).split()]
    assert "yg" not in tokens and "tdk" not in tokens and "yang" in tokens


def test_a_model_learns_real_routing_from_a_slice(real_data):
    train, test = real_data.iloc[:3000], real_data.iloc[3000:4000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # real data has labels seen once or twice: warned, not learned
        model, *_ = fit_on_frame(RoutingModel(), train, refit=False)
    result = evaluate(model, test)
    assert result["opd"]["accuracy"] > 0.7 and result["opd"]["top3_accuracy"] > 0.85
    assert result["opd"]["ece"] < 0.1
    assert result["opd"]["auto_route_precision"] > 0.9  # the review threshold holds on later complaints
