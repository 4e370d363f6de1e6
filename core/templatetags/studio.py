from django import template

from core.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    """`{{ response.text|markdown }}`: sanitised Markdown for untrusted text."""
    return render_markdown(text)
