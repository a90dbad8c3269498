"""Trello (REST API v1, ``https://api.trello.com/1``): boards, cards, card-based milestones."""
