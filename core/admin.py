"""The admin site's titles; staff accounts have their own admin in ``accounts.admin``."""

from django.contrib import admin

admin.site.site_header = "WhatsApp back-office"
admin.site.site_title = "WhatsApp back-office"
admin.site.index_title = "Consent-first WhatsApp messaging"
# There is no public site: the admin is the product, so no "View site" link to a 404.
admin.site.site_url = None
