{#-
  Per-year incremental models: in an incremental run read only the requested years, given either as
  --vars '{"year": N}' or as a range --vars '{"min_year": A, "max_year": B}', or (what Dagster passes for a run's
  partition range, defs/dbt/assets.py) as the environment variables JUNHENG_MIN_YEAR / JUNHENG_MAX_YEAR; without
  them (first build, full refresh) read every year. delete+insert on unique_key year then replaces exactly the
  years built.
  Why the environment: dbt's partial-parse state holds a hash of the --vars, so a load whose window differed from
  the last parse's re-parsed the whole project (~6 s); the environment variables are read only when executing
  (`execute`), never while parsing, so dbt records no dependence on them.
-#}
{% macro requested_window() -%}
    {#- [first, last] year of this invocation, or none for every year. -#}
    {%- if var('year', none) is not none -%}
        {{ return([var('year') | int, var('year') | int]) }}
    {%- endif -%}
    {%- set lo = var('min_year', none) -%}
    {%- set hi = var('max_year', none) -%}
    {%- if lo is none and hi is none and execute -%}
        {%- set lo = env_var('JUNHENG_MIN_YEAR', '') or none -%}
        {%- set hi = env_var('JUNHENG_MAX_YEAR', '') or none -%}
    {%- endif -%}
    {%- if lo is none and hi is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return([(lo if lo is not none else hi) | int, (hi if hi is not none else lo) | int]) }}
{%- endmacro %}

{% macro requested_years_condition(column='year') -%}
    {%- set window = requested_window() -%}
    {%- if window is none -%}
        true
    {%- elif window[0] == window[1] -%}
        {{ column }} = {{ window[0] }}
    {%- else -%}
        {{ column }} between {{ window[0] }} and {{ window[1] }}
    {%- endif -%}
{%- endmacro %}

{% macro from_window_start(column='year') -%}
    {#- Trend models: in an incremental run, the rows from the window's first year on (a year's trend reads only the
        years up to it); otherwise (first build, full refresh, no window) every row. -#}
    {%- set window = requested_window() if is_incremental() else none -%}
    {%- if window is none -%}
        true
    {%- else -%}
        {{ column }} >= {{ window[0] }}
    {%- endif -%}
{%- endmacro %}

{% macro year_filter(column='year') -%}
    {%- if is_incremental() -%}
        {{ requested_years_condition(column) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#-
  Province-resolved configuration: national default rows carry province_code '*', a province override
  row (first two digits of county_code) is a complete row that replaces it. cfg_join emits two left joins
  (override and default); cfg(alias, column) picks the override value when there is an override row.
-#}
{% macro cfg_join(seed, alias, province_expr, keys) -%}
    left join {{ ref(seed) }} {{ alias }}_p
        on {{ alias }}_p.province_code = {{ province_expr }}
        {%- for k, v in keys.items() %} and {{ alias }}_p.{{ k }} = {{ v }}{% endfor %}
    left join {{ ref(seed) }} {{ alias }}_n
        on {{ alias }}_n.province_code = '*'
        {%- for k, v in keys.items() %} and {{ alias }}_n.{{ k }} = {{ v }}{% endfor %}
{%- endmacro %}

{% macro cfg(alias, column) -%}
    case when {{ alias }}_p.province_code is not null then {{ alias }}_p.{{ column }} else {{ alias }}_n.{{ column }} end
{%- endmacro %}
