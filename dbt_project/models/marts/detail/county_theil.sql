{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Theil-T per county, year, level, method and indicator (spec §5), student-weighted, over the method's scope:
-- T = sum (R_i/R) ln((R_i/R)/(P_i/P)) (a part with R_i = 0 contributes 0; so does an implausible negative one),
-- decomposed into urban/town/rural groups: T_between + sum_g (R_g/R) T_g (equal to T when no resource is
-- negative). Group rows are in county_theil_group.

with {{ theil_parts(by_group=false) }},

direct as (
    select
        county_code, year, level, method, indicator,
        count(*) as schools,
        case when any_value(r_all) > 0 then
            {{ exact_sum('case when resource > 0 then resource / r_all * ln((resource / r_all) / (students / p_all)) else 0 end') }}
        end as theil_t
    from tot
    group by county_code, year, level, method, indicator
),

decomposed as (
    select
        county_code, year, level, method, indicator,
        sum(between_term order by urban_rural) as theil_between,
        sum(theil_t_group_contribution order by urban_rural) as theil_within
    from {{ ref('county_theil_group') }}
    where {{ year_filter() }}
    group by county_code, year, level, method, indicator
)

select
    cast(d.county_code as varchar) as county_code,
    cast(d.year as integer) as year,
    cast(d.level as varchar) as level,
    cast(d.method as varchar) as method,
    cast(d.indicator as varchar) as indicator,
    cast(d.schools as integer) as schools,
    cast(d.theil_t as double) as theil_t,
    cast(x.theil_between as double) as theil_between,
    cast(x.theil_within as double) as theil_within
from direct d
left join decomposed x using (county_code, year, level, method, indicator)
