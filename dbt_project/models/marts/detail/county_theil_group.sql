{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Theil-T by urban/town/rural group (spec §5): per group its resource and student shares, its own Theil-T
-- T_g = sum_{i in g} (R_i/R_g) ln((R_i/R_g)/(P_i/P_g)), its within contribution (R_g/R) T_g and its between term
-- (R_g/R) ln((R_g/R)/(P_g/P)). Parts with a non-positive resource contribute 0 to the sums of logs.

with {{ theil_parts(by_group=true) }},

grp as (
    select
        county_code, year, level, method, indicator, urban_rural,
        count(*) as schools,
        any_value(r_g) as r_g, any_value(p_g) as p_g, any_value(r_all) as r_all, any_value(p_all) as p_all,
        {{ exact_sum('case when resource > 0 and r_g > 0
                 then resource / r_g * ln((resource / r_g) / (students / p_g)) else 0 end') }} as theil_t_group
    from tot
    group by county_code, year, level, method, indicator, urban_rural
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(method as varchar) as method,
    cast(indicator as varchar) as indicator,
    cast(urban_rural as varchar) as urban_rural,
    cast(schools as integer) as schools,
    cast(p_g as double) as students,
    cast(case when r_all > 0 then r_g / r_all end as double) as resource_share,
    cast(p_g / p_all as double) as student_share,
    cast(case when r_all > 0 then theil_t_group end as double) as theil_t_group,
    cast(case when r_all > 0 then r_g / r_all * theil_t_group end as double) as theil_t_group_contribution,
    cast(case when r_all > 0 then case when r_g > 0 then r_g / r_all * ln((r_g / r_all) / (p_g / p_all)) else 0 end end as double) as between_term
from grp
