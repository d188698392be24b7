{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- The overall 2017 verdict per county and year (spec §4): 'met' only when all four parts are met (every scorecard
-- item met, and for the resource part every school part of both levels compliant, 6 of 7 / 85%); 'incomplete' when
-- an item has no data (spec §4.4: "the overall verdict is then incomplete") or a school's compliance cannot be
-- judged; otherwise 'not_met'. provisional: the verdict would differ without the warning-flagged school parts.

with sc as (
    select * from {{ ref('quality_scorecard') }} where {{ year_filter() }}
),

items as (
    select
        county_code, year,
        count(*) as items,
        count(*) filter (where status = 'met') as items_met,
        count(*) filter (where status = 'not_met') as items_not_met,
        count(*) filter (where status = 'no_data') as items_no_data,
        {%- for p in ['government', 'quality', 'recognition'] %}
        case when count(*) filter (where part = '{{ p }}' and status = 'no_data') > 0 then 'incomplete'
             when count(*) filter (where part = '{{ p }}') = 0 then 'incomplete'
             when count(*) filter (where part = '{{ p }}' and status = 'not_met') > 0 then 'not_met'
             else 'met' end as {{ p }}_part{{ ',' if not loop.last }}
        {%- endfor %}
    from sc
    group by county_code, year
),

resource as (
    select
        county_code, year,
        sum(schools_not_compliant) as not_compliant,
        sum(schools_undetermined) as undetermined,
        case when bool_or(quality_resource_met is null) then 'incomplete'
             when bool_and(quality_resource_met) then 'met' else 'not_met' end as resource_part,
        case when bool_or(quality_resource_met_clean is null) then 'incomplete'
             when bool_and(quality_resource_met_clean) then 'met' else 'not_met' end as resource_part_clean
    from {{ ref('county_balance') }}
    where {{ year_filter() }}
    group by county_code, year
),

joined as (
    select
        i.*,
        coalesce(r.not_compliant, 0) as schools_not_compliant,
        coalesce(r.undetermined, 0) as schools_undetermined,
        coalesce(r.resource_part, 'incomplete') as resource_part,
        coalesce(r.resource_part_clean, 'incomplete') as resource_part_clean
    from items i
    left join resource r using (county_code, year)
),

verdicts as (
    select
        *,
        {%- for suffix in ['', '_clean'] %}
        case
            when resource_part{{ suffix }} = 'met' and government_part = 'met' and quality_part = 'met'
                 and recognition_part = 'met' then 'met'
            when 'incomplete' in (resource_part{{ suffix }}, government_part, quality_part, recognition_part) then 'incomplete'
            else 'not_met'
        end as verdict{{ suffix }}{{ ',' if not loop.last }}
        {%- endfor %}
    from joined
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(verdict as varchar) as verdict,
    cast(resource_part as varchar) as resource_part,
    cast(government_part as varchar) as government_part,
    cast(quality_part as varchar) as quality_part,
    cast(recognition_part as varchar) as recognition_part,
    cast(items_met as integer) as items_met,
    cast(items as integer) as items_total,
    cast(items_not_met as integer) as items_not_met,
    cast(items_no_data as integer) as items_no_data,
    cast(schools_not_compliant as integer) as schools_not_compliant,
    cast(schools_undetermined as integer) as schools_undetermined,
    cast(verdict_clean as varchar) as verdict_clean,
    cast(verdict <> verdict_clean as boolean) as provisional
from verdicts
