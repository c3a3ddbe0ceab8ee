"""Maps and pages (Folium), served by the API."""
