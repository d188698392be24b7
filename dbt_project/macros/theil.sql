{#-
  The CTEs both Theil-T models start from: the method's in-scope school parts with a value (`v`), and `tot`, each
  part with its county totals R, P (and, with by_group, its urban/town/rural group totals R_g, P_g). Totals are
  exact_sum()s, not window sums, so a year rebuilt alone gives the same doubles as a full build.
-#}
{% macro theil_parts(by_group=false) -%}
v as (
    select * from {{ ref('school_indicators') }}
    where value is not null and {{ year_filter() }}
),

county_totals as (
    select county_code, year, level, method, indicator,
           {{ exact_sum('resource') }} as r_all, {{ exact_sum('students') }} as p_all
    from v
    group by county_code, year, level, method, indicator
),
{%- if by_group %}

group_totals as (
    select county_code, year, level, method, indicator, urban_rural,
           {{ exact_sum('resource') }} as r_g, {{ exact_sum('students') }} as p_g
    from v
    group by county_code, year, level, method, indicator, urban_rural
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
