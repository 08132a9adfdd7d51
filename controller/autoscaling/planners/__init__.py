"""Auto Scaling's pure planners: a group's launches and terminations, policies' arithmetic,
predictive forecasts.
"""
