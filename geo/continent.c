/*
 * continent.c — the continent of each ISO 3166-1 country, as MaxMind's
 * databases assign them, for databases (the flat ip-location-db schema) that
 * give a country but no continent, and to tell a country code that exists.
 */
#include <pthread.h>
#include <string.h>

#include <stdint.h>

#include "geo/geo.h"

static const struct {
        const char *continent;
        const char *countries; /* two letters each, space separated */
} table[] = {
    {"AF", "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM "
           "LR LS LY MA MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD "
           "TG TN TZ UG YT ZA ZM ZW"},
    {"AN", "AQ BV GS HM TF"},
    {"AS", "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR "
           "KW KZ LA LB LK MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW "
           "UZ VN YE"},
    {"EU", "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE "
           "IM IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM "
           "UA VA XK"},
    {"NA", "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC "
           "MF MQ MS MX NI PA PM PR SV SX TC TT US VC VG VI"},
    {"OC", "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF "
           "WS"},
    {"SA", "AR BO BR CL CO EC FK GF GY PE PY SR UY VE"},
};

/* Country AA..ZZ → 1 + index in table (0: no such country), filled once:
 * a lookup is then one load. */
static uint8_t by_code[26 * 26];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fill(void)
{
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                for (const char *p = table[i].countries; *p != '\0'; p += p[2] ? 3 : 2)
                        by_code[(p[0] - 'A') * 26 + (p[1] - 'A')] = (uint8_t)(i + 1);
}

const char *geo_country_continent(const char *country)
{
        pthread_once(&once, fill);
        if (country == NULL || country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' ||
            country[1] > 'Z' || country[2] != '\0')
                return NULL;
        unsigned i = by_code[(country[0] - 'A') * 26 + (country[1] - 'A')];
        return i ? table[i - 1].continent : NULL;
}

bool geo_continent_valid(const char *code)
{
        if (code == NULL || strlen(code) != 2)
                return false;
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(table[i].continent, code) == 0)
                        return true;
        return false;
}
