{#-
  The CTEs both Theil-T models start from: the method's in-scope school parts with a value (`v`), and `tot`, each
  part with its county totals R, P (and, with by_group, its urban/town/rural group totals R_g, P_g). Totals are
  exact_sum()s, not window sums, so a year rebuilt alone gives the same doubles as a full build.
  `v` is read twice (totals, then each part joined to them) and NOT MATERIALIZED: DuckDB then scans the table twice
  instead of buffering 27 M national rows, and estimates the joins better (county_theil_group 30 s -> 19 s, the
  same rows).
-#}
{% macro theil_parts(by_group=false) -%}
v as not materialized (
    select * from {{ ref('school_indicators') }}
    where value is not null and {{ year_filter() }}
),

{%- if not by_group %}
county_totals as (
    select county_code, year, level, method, indicator,
           {{ exact_sum('resource') }} as r_all, {{ exact_sum('students') }} as p_all
    from v
    group by county_code, year, level, method, indicator
),
{%- else %}
-- county and urban/town/rural group totals in one pass over the parts (grouping sets; each sum as exact as alone)
totals as (
    select county_code, year, level, method, indicator, urban_rural, grouping(urban_rural) as whole_county,
           {{ exact_sum('resource') }} as r, {{ exact_sum('students') }} as p
    from v
    group by grouping sets ((county_code, year, level, method, indicator, urban_rural),
                            (county_code, year, level, method, indicator))
),

county_totals as (
    select county_code, year, level, method, indicator, r as r_all, p as p_all from totals where whole_county = 1
),

group_totals as (
    select county_code, year, level, method, indicator, urban_rural, r as r_g, p as p_g from totals where whole_county = 0
),
{%- endif %}

tot as (
    select v.*, c.r_all, c.p_all{% if by_group %}, g.r_g, g.p_g{% endif %}
    from v
    join county_totals c using (county_code, year, level, method, indicator)
    {%- if by_group %}
    join group_totals g using (county_code, year, level, method, indicator, urban_rural)
    {%- endif %}
)
{%- endmacro %}
