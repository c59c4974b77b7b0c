"""Recommending: the answer's types (model), the Recommender that computes them from the queries of
queries/recommend/, and the JSON lines of a batch (jsonout)."""
from hipkg.recommending.jsonout import LineWriter, error_line, json_lines
from hipkg.recommending.model import Advice, Citation, OptionResult, Reason, Recommendation
from hipkg.recommending.recommender import Recommender

__all__ = ["Advice", "Citation", "LineWriter", "OptionResult", "Reason", "Recommendation", "Recommender", "error_line", "json_lines"]
